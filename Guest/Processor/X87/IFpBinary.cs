namespace VmFt.Guest.Processor.X87;

/// <summary>
/// One of the six two-operand arithmetic operations, as a type so that each instruction form gets
/// its own specialized handler: <c>Apply(destination, source)</c> is what the destination becomes.
/// </summary>
internal interface IFpBinary
{
    static abstract Float80 Apply(Float80 destination, Float80 source, ref FpContext c);
}

internal struct OpAdd : IFpBinary
{
    public static Float80 Apply(Float80 a, Float80 b, ref FpContext c) => Fp80.Add(a, b, false, ref c);
}

internal struct OpSub : IFpBinary
{
    public static Float80 Apply(Float80 a, Float80 b, ref FpContext c) => Fp80.Add(a, b, true, ref c);
}

/// <summary>Reversed subtraction: source - destination.</summary>
internal struct OpSubr : IFpBinary
{
    public static Float80 Apply(Float80 a, Float80 b, ref FpContext c) => Fp80.Add(b, a, true, ref c);
}

internal struct OpMul : IFpBinary
{
    public static Float80 Apply(Float80 a, Float80 b, ref FpContext c) => Fp80.Mul(a, b, ref c);
}

internal struct OpDiv : IFpBinary
{
    public static Float80 Apply(Float80 a, Float80 b, ref FpContext c) => Fp80.Div(a, b, ref c);
}

/// <summary>Reversed division: source / destination.</summary>
internal struct OpDivr : IFpBinary
{
    public static Float80 Apply(Float80 a, Float80 b, ref FpContext c) => Fp80.Div(b, a, ref c);
}
