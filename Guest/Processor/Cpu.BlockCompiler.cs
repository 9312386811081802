using System.Reflection;
using System.Reflection.Emit;
using Iced.Intel;

namespace VmFt.Guest.Processor;

// Compiles a block to a DynamicMethod, so RyuJIT turns it into native code. Each instruction does
// what one turn of the interpreter's loop does for it, minus the fetch: it records where it starts
// (for precise faults), advances EIP, calls its handler, retires (position + 1), and, unless it is
// the last, checks what would make the loop stop before the next one: an interrupt it now has to
// take, a stop request, or the code page gone from under it (a store into the block's own bytes,
// a DMA write, a TLB flush). A fault unwinds out of the block to Run, exactly as from the loop.
public sealed unsafe partial class Cpu
{
    /// <summary>Forms that end a block: control transfers and everything that changes what the next instruction means.</summary>
    private static readonly bool[] EndsBlock = BuildEndsBlock();

    private static bool[] BuildEndsBlock()
    {
        var table = new bool[Enum.GetValues<Code>().Length];
        foreach (Code code in Enum.GetValues<Code>())
        {
            string name = code.ToString();
            table[(int)code] = code == Code.INVALID
                || code.FlowControl() != Iced.Intel.FlowControl.Next
                || code.Mnemonic() is Mnemonic.Sti or Mnemonic.Popf or Mnemonic.Popfd or Mnemonic.Hlt
                    or Mnemonic.In or Mnemonic.Out or Mnemonic.Insb or Mnemonic.Insw or Mnemonic.Insd
                    or Mnemonic.Outsb or Mnemonic.Outsw or Mnemonic.Outsd
                    or Mnemonic.Lds or Mnemonic.Les or Mnemonic.Lss or Mnemonic.Lfs or Mnemonic.Lgs
                    or Mnemonic.Lmsw or Mnemonic.Clts or Mnemonic.Invlpg or Mnemonic.Invd or Mnemonic.Wbinvd
                    or Mnemonic.Lgdt or Mnemonic.Lidt or Mnemonic.Lldt or Mnemonic.Ltr or Mnemonic.Wrmsr
                    or Mnemonic.Rsm or Mnemonic.Wait or Mnemonic.Loadall
                // MOV to a segment, control or debug register; POP of a segment register.
                || name.StartsWith("Mov_Sreg", StringComparison.Ordinal)
                || name.StartsWith("Mov_cr", StringComparison.Ordinal) || name.StartsWith("Mov_dr", StringComparison.Ordinal)
                || name.StartsWith("Mov_tr", StringComparison.Ordinal)
                || (name.StartsWith("Pop", StringComparison.Ordinal) && (name.EndsWith("_ES", StringComparison.Ordinal)
                    || name.EndsWith("_SS", StringComparison.Ordinal) || name.EndsWith("_DS", StringComparison.Ordinal)
                    || name.EndsWith("_FS", StringComparison.Ordinal) || name.EndsWith("_GS", StringComparison.Ordinal)));
        }
        return table;
    }

    private static readonly FieldInfo FieldEip = Field(nameof(_eip));
    private static readonly FieldInfo FieldStartEip = Field(nameof(_startEip));
    private static readonly FieldInfo FieldStartEsp = Field(nameof(_startEsp));
    private static readonly FieldInfo FieldStartFlags = Field(nameof(_startFlags));
    private static readonly FieldInfo FieldFlags = Field(nameof(_flags));
    private static readonly FieldInfo FieldRegisters = Field(nameof(R));
    private static readonly FieldInfo FieldPosition = Field(nameof(_position));
    private static readonly FieldInfo FieldFetchPage = Field(nameof(_fetchPage));
    private static readonly FieldInfo FieldStopRequested = Field(nameof(_stopRequested));
    private static readonly FieldInfo FieldInterruptLine = Field(nameof(_interruptLine));
    private static readonly FieldInfo FieldRecent = Field(nameof(_recent));
    private static readonly FieldInfo FieldCodeSegmentBase = typeof(SegmentCache).GetField(nameof(SegmentCache.Base))!;
    private static readonly FieldInfo FieldSegments = Field(nameof(S));
    private static readonly Type[] HandlerParameters = [typeof(Cpu), typeof(DecodedInstruction).MakeByRefType()];

    private static FieldInfo Field(string name)
        => typeof(Cpu).GetField(name, BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)
           ?? throw new InvalidOperationException($"Cpu has no field {name}");

    private static BlockCode CompileBlock(TranslatedBlock block, out int ilBytes)
    {
        var method = new DynamicMethod("block", typeof(void), [typeof(Cpu), typeof(DecodedInstruction[])], typeof(Cpu), skipVisibility: true);
        var il = method.GetILGenerator();
        var entryEip = il.DeclareLocal(typeof(uint));
        var entryLinear = il.DeclareLocal(typeof(uint));
        var page = il.DeclareLocal(typeof(DecodedPage));
        var exit = il.DefineLabel();

        // entryEip = cpu._eip; entryLinear = CS.base + entryEip; page = cpu._fetchPage
        il.Emit(OpCodes.Ldarg_0);
        il.Emit(OpCodes.Ldfld, FieldEip);
        il.Emit(OpCodes.Stloc, entryEip);
        il.Emit(OpCodes.Ldarg_0);
        il.Emit(OpCodes.Ldfld, FieldSegments);
        il.Emit(OpCodes.Ldc_I4, (int)SegmentRegister.CS);
        il.Emit(OpCodes.Ldelema, typeof(SegmentCache));
        il.Emit(OpCodes.Ldfld, FieldCodeSegmentBase);
        il.Emit(OpCodes.Ldloc, entryEip);
        il.Emit(OpCodes.Add);
        il.Emit(OpCodes.Stloc, entryLinear);
        il.Emit(OpCodes.Ldarg_0);
        il.Emit(OpCodes.Ldfld, FieldFetchPage);
        il.Emit(OpCodes.Stloc, page);

        uint offset = 0;
        for (int i = 0; i < block.Count; i++)
        {
            ref DecodedInstruction d = ref block.Instructions[i];
            uint next = offset + d.Length;

            // _recent[_position & 15] = entryLinear + offset (post-mortem diagnostics, as the loop keeps them)
            il.Emit(OpCodes.Ldarg_0);
            il.Emit(OpCodes.Ldfld, FieldRecent);
            il.Emit(OpCodes.Ldarg_0);
            il.Emit(OpCodes.Ldfld, FieldPosition);
            il.Emit(OpCodes.Conv_I4);
            il.Emit(OpCodes.Ldc_I4, RecentCount - 1);
            il.Emit(OpCodes.And);
            EmitEntryPlus(il, entryLinear, offset);
            il.Emit(OpCodes.Stelem_I4);

            // The restart state a fault restores: _startEip, _startEsp, _startFlags.
            il.Emit(OpCodes.Ldarg_0);
            EmitEntryPlus(il, entryEip, offset);
            il.Emit(OpCodes.Stfld, FieldStartEip);
            il.Emit(OpCodes.Ldarg_0);
            il.Emit(OpCodes.Ldarg_0);
            il.Emit(OpCodes.Ldfld, FieldRegisters);
            il.Emit(OpCodes.Ldc_I4, ESP);
            il.Emit(OpCodes.Ldelem_U4);
            il.Emit(OpCodes.Stfld, FieldStartEsp);
            il.Emit(OpCodes.Ldarg_0);
            il.Emit(OpCodes.Ldarg_0);
            il.Emit(OpCodes.Ldfld, FieldFlags);
            il.Emit(OpCodes.Stfld, FieldStartFlags);

            // _eip = the next instruction (no wrap: the caller checked the block fits the segment)
            il.Emit(OpCodes.Ldarg_0);
            EmitEntryPlus(il, entryEip, next);
            il.Emit(OpCodes.Stfld, FieldEip);

            // handler(cpu, ref instructions[i])
            il.Emit(OpCodes.Ldarg_0);
            il.Emit(OpCodes.Ldarg_1);
            il.Emit(OpCodes.Ldc_I4, i);
            il.Emit(OpCodes.Ldelema, typeof(DecodedInstruction));
            il.Emit(OpCodes.Ldc_I8, (long)(nint)d.Handler);
            il.Emit(OpCodes.Conv_I);
            il.EmitCalli(OpCodes.Calli, CallingConventions.Standard, typeof(void), HandlerParameters, null);

            // _position++
            il.Emit(OpCodes.Ldarg_0);
            il.Emit(OpCodes.Ldarg_0);
            il.Emit(OpCodes.Ldfld, FieldPosition);
            il.Emit(OpCodes.Ldc_I4_1);
            il.Emit(OpCodes.Conv_U8);
            il.Emit(OpCodes.Add);
            il.Emit(OpCodes.Stfld, FieldPosition);

            if (i < block.Count - 1)
            {
                // Leave where the loop would not go straight on to the next instruction.
                var goOn = il.DefineLabel();
                il.Emit(OpCodes.Ldarg_0);
                il.Emit(OpCodes.Ldfld, FieldFetchPage);
                il.Emit(OpCodes.Ldloc, page);
                il.Emit(OpCodes.Bne_Un, exit);
                il.Emit(OpCodes.Ldarg_0);
                il.Emit(OpCodes.Ldfld, FieldStopRequested);
                il.Emit(OpCodes.Brtrue, exit);
                il.Emit(OpCodes.Ldarg_0);
                il.Emit(OpCodes.Ldfld, FieldInterruptLine);
                il.Emit(OpCodes.Brfalse, goOn);
                il.Emit(OpCodes.Ldarg_0);
                il.Emit(OpCodes.Ldfld, FieldFlags);
                il.Emit(OpCodes.Ldc_I4, (int)IF);
                il.Emit(OpCodes.And);
                il.Emit(OpCodes.Brtrue, exit);
                il.MarkLabel(goOn);
            }
            offset = next;
        }
        il.MarkLabel(exit);
        il.Emit(OpCodes.Ret);
        ilBytes = il.ILOffset;
        return method.CreateDelegate<BlockCode>();
    }

    private static void EmitEntryPlus(ILGenerator il, LocalBuilder entry, uint offset)
    {
        il.Emit(OpCodes.Ldloc, entry);
        if (offset == 0) return;
        il.Emit(OpCodes.Ldc_I4, (int)offset);
        il.Emit(OpCodes.Add);
    }
}
