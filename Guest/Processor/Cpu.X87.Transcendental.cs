using VmFt.Guest.Processor.X87;

namespace VmFt.Guest.Processor;

// x87 transcendental instructions. The trigonometric ones leave an operand of magnitude 2^63 or
// more unchanged and set C2 (the caller reduces it, with FPREM); otherwise C2 is cleared.
public sealed unsafe partial class Cpu
{
    private void SetC2(bool on) => _fsw = on ? (ushort)(_fsw | FswC2) : (ushort)(_fsw & ~FswC2);

    private void Trig(ref DecodedInstruction d, delegate*<Float80, ref FpContext, Float80> op)
    {
        FpuEnter();
        FpuNoteInstruction(ref d);
        if (IsEmpty(0))
        {
            if (StackFault(overflow: false)) SetSt(0, Float80.Indefinite);
            return;
        }
        if (Fp80.OutOfTrigRange(St(0)))
        {
            _fsw &= unchecked((ushort)~FswC1);
            SetC2(true);
            return;
        }
        var ctx = NewContext();
        var r = op(St(0), ref ctx);
        bool store = FpuCommit(ctx);
        SetC2(false);
        if (store) SetSt(0, r);
    }

    private static void Fsin(Cpu c, ref DecodedInstruction d) => c.Trig(ref d, &Fp80.Sin);
    private static void Fcos(Cpu c, ref DecodedInstruction d) => c.Trig(ref d, &Fp80.Cos);

    /// <summary>FSINCOS and FPTAN: ST(0) becomes the first result and the second is pushed.</summary>
    private void TrigPush(ref DecodedInstruction d, bool tangent)
    {
        FpuEnter();
        FpuNoteInstruction(ref d);
        if (IsEmpty(0))
        {
            if (!StackFault(overflow: false)) return;
            SetSt(0, Float80.Indefinite);
            Push(Float80.Indefinite);
            return;
        }
        if (!IsEmptyPhys((_ftop - 1) & 7))
        {
            SetC2(false);
            if (!StackFault(overflow: true)) return;
            SetSt(0, Float80.Indefinite);
            Push(Float80.Indefinite);
            return;
        }
        if (Fp80.OutOfTrigRange(St(0)))
        {
            _fsw &= unchecked((ushort)~FswC1);
            SetC2(true);
            return;
        }
        var ctx = NewContext();
        Float80 first, second;
        if (tangent)
        {
            first = Fp80.Tan(St(0), ref ctx);
            second = Float80.One;
            if (first.IsNaN) second = first; // an invalid operand pushes the NaN twice
        }
        else
        {
            (first, second) = Fp80.SinCosPair(St(0), ref ctx);
        }
        bool store = FpuCommit(ctx);
        SetC2(false);
        if (!store) return;
        SetSt(0, first);
        Push(second);
    }

    private static void Fsincos(Cpu c, ref DecodedInstruction d) => c.TrigPush(ref d, tangent: false);
    private static void Fptan(Cpu c, ref DecodedInstruction d) => c.TrigPush(ref d, tangent: true);

    private static void F2xm1(Cpu c, ref DecodedInstruction d) => c.UnarySt0(ref d, &Fp80.TwoToXMinus1);

    /// <summary>ST(1) = op(ST(0), ST(1)), then pop: FPATAN, FYL2X, FYL2XP1.</summary>
    private void BinaryPop(ref DecodedInstruction d, delegate*<Float80, Float80, ref FpContext, Float80> op)
    {
        FpuEnter();
        FpuNoteInstruction(ref d);
        if (IsEmpty(0) || IsEmpty(1))
        {
            if (!StackFault(overflow: false)) return;
            SetSt(1, Float80.Indefinite);
            Pop();
            return;
        }
        var ctx = NewContext();
        var r = op(St(0), St(1), ref ctx);
        if (!FpuCommit(ctx)) return;
        SetSt(1, r);
        Pop();
    }

    private static Float80 Atan2Args(Float80 st0, Float80 st1, ref FpContext c) => Fp80.Atan2(st1, st0, ref c);

    private static void Fpatan(Cpu c, ref DecodedInstruction d) => c.BinaryPop(ref d, &Atan2Args);
    private static void Fyl2x(Cpu c, ref DecodedInstruction d) => c.BinaryPop(ref d, &Fp80.YLog2X);
    private static void Fyl2xp1(Cpu c, ref DecodedInstruction d) => c.BinaryPop(ref d, &Fp80.YLog2XPlus1);
}
