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
    private static readonly FieldInfo FieldSlowAccess = Field(nameof(_slowAccess));
    private static readonly FieldInfo FieldBlockUntil = Field(nameof(_blockUntil));
    private static readonly MethodInfo ConditionMethod = typeof(Cpu).GetMethod(nameof(Condition), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly MethodInfo JumpNearMethod = typeof(Cpu).GetMethod(nameof(JumpNear), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly MethodInfo AddWithFlags32 = Method(nameof(AddWithFlags));
    private static readonly MethodInfo SubWithFlags32 = Method(nameof(SubWithFlags));
    private static readonly MethodInfo LogicFlags32 = Method(nameof(LogicFlags));
    private static readonly Type[] HandlerParameters = [typeof(Cpu), typeof(DecodedInstruction).MakeByRefType()];

    private static MethodInfo Method(string name)
        => typeof(Cpu).GetMethod(name, BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)!.MakeGenericMethod(typeof(W32));

    private static FieldInfo Field(string name)
        => typeof(Cpu).GetField(name, BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)
           ?? throw new InvalidOperationException($"Cpu has no field {name}");

    /// <summary>
    /// The method's first parameter is the block's instruction copies, so that each block's delegate
    /// is closed over its own (a closed delegate is called without the argument-shuffling thunk an
    /// open static one goes through); the second is the CPU.
    /// </summary>
    private static DynamicMethod CompileBlock(TranslatedBlock block, out int ilBytes, out int inlined)
    {
        var method = new DynamicMethod("block", typeof(void), [typeof(DecodedInstruction[]), typeof(Cpu)], typeof(Cpu), skipVisibility: true);
        var il = method.GetILGenerator();
        var entryEip = il.DeclareLocal(typeof(uint));
        var page = il.DeclareLocal(typeof(DecodedPage));
        var exit = il.DefineLabel();

        // entryEip = cpu._eip; page = cpu._fetchPage
        il.Emit(OpCodes.Ldarg_1);
        il.Emit(OpCodes.Ldfld, FieldEip);
        il.Emit(OpCodes.Stloc, entryEip);
        il.Emit(OpCodes.Ldarg_1);
        il.Emit(OpCodes.Ldfld, FieldFetchPage);
        il.Emit(OpCodes.Stloc, page);

        var regs = il.DeclareLocal(typeof(uint[]));
        il.Emit(OpCodes.Ldarg_1);
        il.Emit(OpCodes.Ldfld, FieldRegisters);
        il.Emit(OpCodes.Stloc, regs);

        int pending = 0; // inline instructions retired but not yet added to _position
        inlined = 0;
        var stubs = new List<Action>(); // cold paths, emitted after the block's straight line

        // Loop heads: instructions that a jump of the block goes to (back, or forward past a
        // followed JMP). Pending retirements are flushed before each, so whichever way the code
        // arrives there the count is the same.
        var heads = new System.Reflection.Emit.Label?[block.Count];
        for (int i = 0; i < block.Count; i++)
        {
            ref DecodedInstruction d = ref block.Instructions[i];
            if (!block.Code32 || !d.OpSize32 || !(IsJumpRel((Code)d.Code) || ((Code)d.Code).IsJccShortOrNear())) continue;
            int target = block.Offsets[i] + d.Length + (int)d.Imm;
            if (IsJumpRel((Code)d.Code) && i + 1 < block.Count && block.Offsets[i + 1] == target) continue; // followed
            int t = Array.IndexOf(block.Offsets, target);
            if (t >= 0) heads[t] ??= il.DefineLabel();
        }

        // A jump that lands on a loop head goes round inside the block while the block's remaining
        // length still fits before _blockUntil and nothing asks the loop to stop (as at an exit).
        bool TryEmitBackEdge(int target)
        {
            int t = Array.IndexOf(block.Offsets, target);
            if (t < 0 || heads[t] is not { } head) return false;
            il.Emit(OpCodes.Ldarg_1);
            il.Emit(OpCodes.Ldfld, FieldPosition);
            il.Emit(OpCodes.Ldc_I4, block.Count - t);
            il.Emit(OpCodes.Conv_U8);
            il.Emit(OpCodes.Add);
            il.Emit(OpCodes.Ldarg_1);
            il.Emit(OpCodes.Ldfld, FieldBlockUntil);
            il.Emit(OpCodes.Bgt_Un, exit);
            EmitExitCheck(il, page, exit, head);
            return true;
        }

        for (int i = 0; i < block.Count; i++)
        {
            ref DecodedInstruction d = ref block.Instructions[i];
            if (heads[i] is { } here)
            {
                EmitRetire(il, pending);
                pending = 0;
                il.MarkLabel(here);
            }
            uint offset = (uint)block.Offsets[i];
            uint next = offset + d.Length;
            bool last = i == block.Count - 1;
            var code = (Code)d.Code;

            if (!last && IsJumpRel(code) && block.Offsets[i + 1] == (int)(next + d.Imm))
            {
                // A followed JMP: its target is the next instruction, inside the range checked at entry.
                pending++;
                inlined++;
                continue;
            }
            if (!last && code.IsJccShortOrNear())
            {
                // A Jcc inside the block: the taken side leaves (or loops), the fall-through goes on.
                int cc = (int)code.ConditionCode() - 1;
                var fall = il.DefineLabel();
                il.Emit(OpCodes.Ldarg_1);
                il.Emit(OpCodes.Ldc_I4, cc);
                il.Emit(OpCodes.Call, ConditionMethod);
                il.Emit(OpCodes.Brfalse, fall);
                EmitRetire(il, pending);
                EmitRestartState(il, regs, entryEip, offset);
                il.Emit(OpCodes.Ldarg_1);
                EmitEntryPlus(il, entryEip, next);
                il.Emit(OpCodes.Ldc_I4, (int)d.Imm);
                il.Emit(OpCodes.Add);
                il.Emit(OpCodes.Ldc_I4_1);
                il.Emit(OpCodes.Call, JumpNearMethod);
                EmitRetire(il, 1);
                if (!TryEmitBackEdge((int)(next + d.Imm))) il.Emit(OpCodes.Br, exit);
                il.MarkLabel(fall);
                pending++;
                inlined++;
                continue;
            }

            var form = BlockFormTable.Forms[d.Code];
            bool quiet = form.Form != BlockForm.None && !FormMayFault(form.Form, ref d);
            if ((d.Flags & DecodedFlags.Lock) == 0 && (TryEmitInline(il, regs, ref d) || (quiet && TryEmitForm(il, regs, form, ref d))))
            {
                // Cannot fault and touches neither memory nor devices: no restart state, no exit check.
                pending++;
                inlined++;
                if (last)
                {
                    EmitRetire(il, pending);
                    EmitSetEip(il, entryEip, next);
                }
                continue;
            }
            EmitRetire(il, pending);
            pending = 0;

            if (last && TryEmitJump(il, regs, entryEip, offset, next, ref d, TryEmitBackEdge))
            {
                inlined++;
                break;
            }

            if (form.Form != BlockForm.None && !quiet && (d.Flags & DecodedFlags.Lock) == 0)
            {
                // A memory operand (or the stack): the access may fault, so the restart state comes
                // first; a TLB miss may have changed what lets the block go on, so it is checked then.
                EmitRestartState(il, regs, entryEip, offset);
                TryEmitForm(il, regs, form, ref d);
                EmitSlowAccessCheck(il, stubs, entryEip, page, next);
                inlined++;
                pending = 1;
                if (last)
                {
                    EmitRetire(il, pending);
                    EmitSetEip(il, entryEip, next);
                }
                continue;
            }

            // The restart state a fault restores: _startEip, _startEsp, _startFlags.
            EmitRestartState(il, regs, entryEip, offset);

            // _eip = the next instruction (no wrap: the caller checked the block fits the segment)
            EmitSetEip(il, entryEip, next);

            // handler(cpu, ref instructions[i])
            il.Emit(OpCodes.Ldarg_1);
            il.Emit(OpCodes.Ldarg_0);
            il.Emit(OpCodes.Ldc_I4, i);
            il.Emit(OpCodes.Ldelema, typeof(DecodedInstruction));
            il.Emit(OpCodes.Ldc_I8, (long)(nint)d.Handler);
            il.Emit(OpCodes.Conv_I);
            il.EmitCalli(OpCodes.Calli, CallingConventions.Standard, typeof(void), HandlerParameters, null);
            EmitRetire(il, 1);

            // Leave where the loop would not go straight on to the next instruction.
            if (!last) EmitExitCheck(il, page, exit, null);
        }
        il.MarkLabel(exit);
        il.Emit(OpCodes.Ret);
        foreach (var stub in stubs) stub();
        ilBytes = il.ILOffset;
        return method;
    }

    /// <summary>Branches to <paramref name="leave"/> if the code page went, a stop was asked for or an interrupt is deliverable; else to <paramref name="goOn"/> (or falls through).</summary>
    private static void EmitExitCheck(ILGenerator il, LocalBuilder page, System.Reflection.Emit.Label leave, System.Reflection.Emit.Label? goOn)
    {
        var stay = goOn ?? il.DefineLabel();
        il.Emit(OpCodes.Ldarg_1);
        il.Emit(OpCodes.Ldfld, FieldFetchPage);
        il.Emit(OpCodes.Ldloc, page);
        il.Emit(OpCodes.Bne_Un, leave);
        il.Emit(OpCodes.Ldarg_1);
        il.Emit(OpCodes.Ldfld, FieldStopRequested);
        il.Emit(OpCodes.Brtrue, leave);
        il.Emit(OpCodes.Ldarg_1);
        il.Emit(OpCodes.Ldfld, FieldInterruptLine);
        il.Emit(OpCodes.Brfalse, stay);
        il.Emit(OpCodes.Ldarg_1);
        il.Emit(OpCodes.Ldfld, FieldFlags);
        il.Emit(OpCodes.Ldc_I4, (int)IF);
        il.Emit(OpCodes.And);
        il.Emit(OpCodes.Brtrue, leave);
        if (goOn is { } target) il.Emit(OpCodes.Br, target);
        else il.MarkLabel(stay);
    }

    /// <summary>
    /// After an inline access: if it took the slow path (page walk, MMIO, a store into decoded code),
    /// the instruction retires and the block leaves where the loop would stop, as after a handler.
    /// The check is a cold stub; the hit path pays one load and branch.
    /// </summary>
    private static void EmitSlowAccessCheck(ILGenerator il, List<Action> stubs, LocalBuilder entryEip, LocalBuilder page, uint next)
    {
        var slow = il.DefineLabel();
        var join = il.DefineLabel();
        il.Emit(OpCodes.Ldarg_1);
        il.Emit(OpCodes.Ldfld, FieldSlowAccess);
        il.Emit(OpCodes.Brtrue, slow);
        il.MarkLabel(join);
        stubs.Add(() =>
        {
            var leave = il.DefineLabel();
            il.MarkLabel(slow);
            il.Emit(OpCodes.Ldarg_1);
            il.Emit(OpCodes.Ldc_I4_0);
            il.Emit(OpCodes.Stfld, FieldSlowAccess);
            EmitExitCheck(il, page, leave, join);
            il.MarkLabel(leave);
            EmitRetire(il, 1);
            EmitSetEip(il, entryEip, next);
            il.Emit(OpCodes.Ret);
        });
    }

    private static void EmitRestartState(ILGenerator il, LocalBuilder regs, LocalBuilder entryEip, uint offset)
    {
        il.Emit(OpCodes.Ldarg_1);
        EmitEntryPlus(il, entryEip, offset);
        il.Emit(OpCodes.Stfld, FieldStartEip);
        il.Emit(OpCodes.Ldarg_1);
        il.Emit(OpCodes.Ldloc, regs);
        il.Emit(OpCodes.Ldc_I4, ESP);
        il.Emit(OpCodes.Ldelem_U4);
        il.Emit(OpCodes.Stfld, FieldStartEsp);
        il.Emit(OpCodes.Ldarg_1);
        il.Emit(OpCodes.Ldarg_1);
        il.Emit(OpCodes.Ldfld, FieldFlags);
        il.Emit(OpCodes.Stfld, FieldStartFlags);
    }

    /// <summary>
    /// Jcc ending the block, as its handler does it: EIP moves on; if the condition holds, JumpNear
    /// (which may raise #GP past the CS limit, so only that path records the restart state); then it retires.
    /// </summary>
    private static bool TryEmitJcc(ILGenerator il, LocalBuilder regs, LocalBuilder entryEip, uint offset, uint next, ref DecodedInstruction d, Func<int, bool> backEdge)
    {
        var code = (Code)d.Code;
        if (!code.IsJccShortOrNear() || Handlers[(int)code] == null) return false; // unregistered forms raise #UD
        int cc = (int)code.ConditionCode() - 1; // Iced counts from None = 0; x86 from O = 0
        var notTaken = il.DefineLabel();
        EmitSetEip(il, entryEip, next);
        il.Emit(OpCodes.Ldarg_1);
        il.Emit(OpCodes.Ldc_I4, cc);
        il.Emit(OpCodes.Call, ConditionMethod);
        il.Emit(OpCodes.Brfalse, notTaken);
        EmitRestartState(il, regs, entryEip, offset);
        il.Emit(OpCodes.Ldarg_1);
        EmitEntryPlus(il, entryEip, next);
        il.Emit(OpCodes.Ldc_I4, (int)d.Imm);
        il.Emit(OpCodes.Add);
        il.Emit(d.OpSize32 ? OpCodes.Ldc_I4_1 : OpCodes.Ldc_I4_0);
        il.Emit(OpCodes.Call, JumpNearMethod);
        if (d.OpSize32)
        {
            var taken = il.DefineLabel();
            il.Emit(OpCodes.Br, taken);
            il.MarkLabel(notTaken);
            EmitRetire(il, 1);
            var done = il.DefineLabel();
            il.Emit(OpCodes.Br, done);
            il.MarkLabel(taken);
            EmitRetire(il, 1);
            backEdge((int)(next + d.Imm));
            il.MarkLabel(done);
            return true;
        }
        il.MarkLabel(notTaken);
        EmitRetire(il, 1);
        return true;
    }

    /// <summary>The jump that ends a block: Jcc, JMP rel (JmpRel: JumpNear to the next instruction plus the displacement) or JMP r/m32.</summary>
    private static bool TryEmitJump(ILGenerator il, LocalBuilder regs, LocalBuilder entryEip, uint offset, uint next, ref DecodedInstruction d, Func<int, bool> backEdge)
    {
        var code = (Code)d.Code;
        if (Handlers[(int)code] == null) return false; // unregistered forms raise #UD
        if (code is Code.Jmp_rel8_16 or Code.Jmp_rel8_32 or Code.Jmp_rel16 or Code.Jmp_rel32_32)
        {
            EmitRestartState(il, regs, entryEip, offset);
            il.Emit(OpCodes.Ldarg_1);
            EmitEntryPlus(il, entryEip, next);
            il.Emit(OpCodes.Ldc_I4, (int)d.Imm);
            il.Emit(OpCodes.Add);
            il.Emit(d.OpSize32 ? OpCodes.Ldc_I4_1 : OpCodes.Ldc_I4_0);
            il.Emit(OpCodes.Call, JumpNearMethod);
            EmitRetire(il, 1);
            if (d.OpSize32) backEdge((int)(next + d.Imm));
            return true;
        }
        if (code == Code.Jmp_rm32 && (d.Flags & DecodedFlags.Lock) == 0)
        {
            // JmpRm32: JumpNear to the register or the dword in memory (either may fault).
            EmitRestartState(il, regs, entryEip, offset);
            il.Emit(OpCodes.Ldarg_1);
            EmitMemoryArguments(il, regs, ref d);
            il.Emit(OpCodes.Ldc_I4, (int)d.R0);
            il.Emit(OpCodes.Call, BlockJmpRm32Method);
            EmitRetire(il, 1);
            return true;
        }
        return TryEmitJcc(il, regs, entryEip, offset, next, ref d, backEdge);
    }

    /// <summary>Families run inline through the methods of Cpu.BlockOperations.cs, register or memory operand alike.</summary>
    private enum BlockForm : byte { None, MovLoad, MovStore, MovImm, Movzx, Movsx, AluRmReg, AluRegRm, AluRmImm, Inc, Dec, Push, Pop, Nop }

    private readonly record struct BlockFormInfo(BlockForm Form, Type? Op, Type? Width, Type? Source);

    /// <summary>Built on first use, after the handler table it consults.</summary>
    private static class BlockFormTable
    {
        public static readonly BlockFormInfo[] Forms = BuildBlockForms();
    }

    private static BlockFormInfo[] BuildBlockForms()
    {
        var table = new BlockFormInfo[Enum.GetValues<Code>().Length];
        void Add(string name, BlockForm form, Type width, Type? op = null, Type? source = null)
        {
            var code = CodeOf(name);
            if (Handlers[(int)code] != null) table[(int)code] = new BlockFormInfo(form, op, width, source);
        }
        var widths = new (string Bits, Type Type, string Acc)[] { ("8", typeof(W8), "AL"), ("16", typeof(W16), "AX"), ("32", typeof(W32), "EAX") };
        var ops = new (string Name, Type Type)[]
        {
            ("Add", typeof(AddOp)), ("Or", typeof(OrOp)), ("Adc", typeof(AdcOp)), ("Sbb", typeof(SbbOp)),
            ("And", typeof(AndOp)), ("Sub", typeof(SubOp)), ("Xor", typeof(XorOp)), ("Cmp", typeof(CmpOp)),
        };
        foreach (var (bits, w, acc) in widths)
        {
            Add($"Mov_rm{bits}_r{bits}", BlockForm.MovStore, w);
            Add($"Mov_r{bits}_rm{bits}", BlockForm.MovLoad, w);
            Add($"Mov_rm{bits}_imm{bits}", BlockForm.MovImm, w);
            Add($"Mov_r{bits}_imm{bits}", BlockForm.MovImm, w);
            foreach (var (name, op) in ops)
            {
                Add($"{name}_rm{bits}_r{bits}", BlockForm.AluRmReg, w, op);
                Add($"{name}_r{bits}_rm{bits}", BlockForm.AluRegRm, w, op);
                Add($"{name}_{acc}_imm{bits}", BlockForm.AluRmImm, w, op);
                Add($"{name}_rm{bits}_imm{bits}", BlockForm.AluRmImm, w, op);
                Add(bits == "8" ? $"{name}_rm8_imm8_82" : $"{name}_rm{bits}_imm8", BlockForm.AluRmImm, w, op);
            }
            Add($"Test_rm{bits}_r{bits}", BlockForm.AluRmReg, w, typeof(TestOp));
            Add($"Test_{acc}_imm{bits}", BlockForm.AluRmImm, w, typeof(TestOp));
            Add($"Test_rm{bits}_imm{bits}", BlockForm.AluRmImm, w, typeof(TestOp));
            Add(bits == "8" ? "Test_rm8_imm8_F6r1" : $"Test_rm{bits}_imm{bits}_F7r1", BlockForm.AluRmImm, w, typeof(TestOp));
            Add($"Inc_rm{bits}", BlockForm.Inc, w);
            Add($"Dec_rm{bits}", BlockForm.Dec, w);
            if (bits != "8")
            {
                Add($"Inc_r{bits}", BlockForm.Inc, w);
                Add($"Dec_r{bits}", BlockForm.Dec, w);
            }
        }
        foreach (var (name, form) in new[] { ("Movzx", BlockForm.Movzx), ("Movsx", BlockForm.Movsx) })
        {
            Add($"{name}_r16_rm8", form, typeof(W16), source: typeof(W8));
            Add($"{name}_r32_rm8", form, typeof(W32), source: typeof(W8));
            Add($"{name}_r16_rm16", form, typeof(W16), source: typeof(W16));
            Add($"{name}_r32_rm16", form, typeof(W32), source: typeof(W16));
        }
        Add("Push_r32", BlockForm.Push, typeof(W32));
        Add("Pop_r32", BlockForm.Pop, typeof(W32));
        foreach (var nop in new[] { "Nopw", "Nopd", "Nop_rm16", "Nop_rm32" }) Add(nop, BlockForm.Nop, typeof(W32));
        return table;
    }

    /// <summary>Whether the inline form can fault (and so needs the restart state first): a memory operand or the stack.</summary>
    private static bool FormMayFault(BlockForm form, ref DecodedInstruction d)
        => form is BlockForm.Push or BlockForm.Pop || (d.HasMemory && form != BlockForm.Nop);

    private static MethodInfo Operation(string name, params Type[] types)
        => typeof(Cpu).GetMethod(name, BindingFlags.Static | BindingFlags.NonPublic)!.MakeGenericMethod(types);

    private static readonly MethodInfo BlockJmpRm32Method = typeof(Cpu).GetMethod(nameof(BlockJmpRm32), BindingFlags.Static | BindingFlags.NonPublic)!;
    private static readonly MethodInfo BlockPush32Method = typeof(Cpu).GetMethod(nameof(BlockPush32), BindingFlags.Static | BindingFlags.NonPublic)!;
    private static readonly MethodInfo BlockPop32Method = typeof(Cpu).GetMethod(nameof(BlockPop32), BindingFlags.Static | BindingFlags.NonPublic)!;

    /// <summary>Pushes (mem, seg, ea): whether the operand is memory, its segment and its effective address (0, 0, 0 for a register).</summary>
    private static void EmitMemoryArguments(ILGenerator il, LocalBuilder regs, ref DecodedInstruction d)
    {
        if (!d.HasMemory)
        {
            il.Emit(OpCodes.Ldc_I4_0);
            il.Emit(OpCodes.Ldc_I4_0);
            il.Emit(OpCodes.Ldc_I4_0);
            return;
        }
        il.Emit(OpCodes.Ldc_I4_1);
        il.Emit(OpCodes.Ldc_I4, (int)d.Segment);
        EmitEa(il, regs, ref d);
    }

    /// <summary>The effective address, as Ea computes it: base + (index &lt;&lt; scale) + disp, 16 bits wide for 16-bit addressing.</summary>
    private static void EmitEa(ILGenerator il, LocalBuilder regs, ref DecodedInstruction d)
    {
        EmitReg(il, regs, d.Base);
        EmitReg(il, regs, d.Index);
        il.Emit(OpCodes.Ldc_I4, (int)d.Scale);
        il.Emit(OpCodes.Shl);
        il.Emit(OpCodes.Add);
        il.Emit(OpCodes.Ldc_I4, (int)d.Disp);
        il.Emit(OpCodes.Add);
        if (!d.AddrSize32)
        {
            il.Emit(OpCodes.Ldc_I4, 0xFFFF);
            il.Emit(OpCodes.And);
        }
    }

    private static void EmitGetReg(ILGenerator il, Type width, int reg)
    {
        il.Emit(OpCodes.Ldarg_1);
        il.Emit(OpCodes.Ldc_I4, reg);
        il.Emit(OpCodes.Call, Operation(nameof(BlockGetReg), width));
    }

    private static uint MaskOf(Type width) => width == typeof(W8) ? 0xFFu : width == typeof(W16) ? 0xFFFFu : 0xFFFF_FFFFu;

    /// <summary>Emits the form as a call of its Block* method with the decoded fields as constants (always succeeds for a listed form).</summary>
    private static bool TryEmitForm(ILGenerator il, LocalBuilder regs, BlockFormInfo form, ref DecodedInstruction d)
    {
        var w = form.Width!;
        bool mem = d.HasMemory;
        switch (form.Form)
        {
            case BlockForm.Nop:
                return true;
            case BlockForm.MovLoad when mem:
                il.Emit(OpCodes.Ldarg_1);
                il.Emit(OpCodes.Ldc_I4, (int)d.R0);
                il.Emit(OpCodes.Ldc_I4, (int)d.Segment);
                EmitEa(il, regs, ref d);
                il.Emit(OpCodes.Call, Operation(nameof(BlockMovLoad), w));
                return true;
            case BlockForm.MovLoad:
            case BlockForm.MovStore when !mem:
                il.Emit(OpCodes.Ldarg_1);
                il.Emit(OpCodes.Ldc_I4, (int)d.R0);
                EmitGetReg(il, w, d.R1);
                il.Emit(OpCodes.Call, Operation(nameof(BlockSetReg), w));
                return true;
            case BlockForm.MovStore:
            case BlockForm.MovImm when mem:
                il.Emit(OpCodes.Ldarg_1);
                il.Emit(OpCodes.Ldc_I4, (int)d.Segment);
                EmitEa(il, regs, ref d);
                if (form.Form == BlockForm.MovStore) EmitGetReg(il, w, d.R1);
                else il.Emit(OpCodes.Ldc_I4, (int)(d.Imm & MaskOf(w)));
                il.Emit(OpCodes.Call, Operation(nameof(BlockMovStore), w));
                return true;
            case BlockForm.MovImm:
                il.Emit(OpCodes.Ldarg_1);
                il.Emit(OpCodes.Ldc_I4, (int)d.R0);
                il.Emit(OpCodes.Ldc_I4, (int)(d.Imm & MaskOf(w)));
                il.Emit(OpCodes.Call, Operation(nameof(BlockSetReg), w));
                return true;
            case BlockForm.Movzx:
            case BlockForm.Movsx:
                il.Emit(OpCodes.Ldarg_1);
                il.Emit(OpCodes.Ldc_I4, (int)d.R0);
                EmitMemoryArguments(il, regs, ref d);
                il.Emit(OpCodes.Ldc_I4, (int)d.R1);
                il.Emit(OpCodes.Call, Operation(form.Form == BlockForm.Movzx ? nameof(BlockMovzx) : nameof(BlockMovsx), w, form.Source!));
                return true;
            case BlockForm.AluRmReg:
            case BlockForm.AluRmImm:
                il.Emit(OpCodes.Ldarg_1);
                EmitMemoryArguments(il, regs, ref d);
                il.Emit(OpCodes.Ldc_I4, (int)d.R0);
                if (form.Form == BlockForm.AluRmReg) EmitGetReg(il, w, d.R1);
                else il.Emit(OpCodes.Ldc_I4, (int)(d.Imm & MaskOf(w)));
                il.Emit(OpCodes.Call, Operation(nameof(BlockAluRm), form.Op!, w));
                return true;
            case BlockForm.AluRegRm:
                il.Emit(OpCodes.Ldarg_1);
                il.Emit(OpCodes.Ldc_I4, (int)d.R0);
                EmitMemoryArguments(il, regs, ref d);
                il.Emit(OpCodes.Ldc_I4, (int)d.R1);
                il.Emit(OpCodes.Call, Operation(nameof(BlockAluRegRm), form.Op!, w));
                return true;
            case BlockForm.Inc:
            case BlockForm.Dec:
                il.Emit(OpCodes.Ldarg_1);
                il.Emit(form.Form == BlockForm.Inc ? OpCodes.Ldc_I4_1 : OpCodes.Ldc_I4_0);
                EmitMemoryArguments(il, regs, ref d);
                il.Emit(OpCodes.Ldc_I4, (int)d.R0);
                il.Emit(OpCodes.Call, Operation(nameof(BlockIncDec), w));
                return true;
            case BlockForm.Push:
            case BlockForm.Pop:
                il.Emit(OpCodes.Ldarg_1);
                il.Emit(OpCodes.Ldc_I4, (int)d.R0);
                il.Emit(OpCodes.Call, form.Form == BlockForm.Push ? BlockPush32Method : BlockPop32Method);
                return true;
        }
        return false;
    }

    private static void EmitRetire(ILGenerator il, int count)
    {
        if (count == 0) return;
        il.Emit(OpCodes.Ldarg_1);
        il.Emit(OpCodes.Ldarg_1);
        il.Emit(OpCodes.Ldfld, FieldPosition);
        il.Emit(OpCodes.Ldc_I4, count);
        il.Emit(OpCodes.Conv_U8);
        il.Emit(OpCodes.Add);
        il.Emit(OpCodes.Stfld, FieldPosition);
    }

    private enum InlineForm : byte { None, Alu, Mov, Inc, Dec, Lea }

    private enum AluKind : byte { Add, Or, Adc, Sbb, And, Sub, Xor, Cmp, Test }

    /// <summary>Forms compiled inline when their operands are registers: (form, ALU operation, second operand is the immediate).</summary>
    private static readonly (InlineForm Form, AluKind Op, bool Immediate)[] InlineForms = BuildInlineForms();

    private static (InlineForm, AluKind, bool)[] BuildInlineForms()
    {
        var table = new (InlineForm, AluKind, bool)[Enum.GetValues<Code>().Length];
        foreach (var op in Enum.GetValues<AluKind>())
        {
            foreach (string shape in new[] { "rm32_r32", "r32_rm32", "EAX_imm32", "rm32_imm32", "rm32_imm8" })
                if (Enum.TryParse<Code>($"{op}_{shape}", out var code))
                    table[(int)code] = (InlineForm.Alu, op, shape.Contains("imm", StringComparison.Ordinal));
        }
        table[(int)Code.Mov_r32_rm32] = (InlineForm.Mov, default, false);
        table[(int)Code.Mov_rm32_r32] = (InlineForm.Mov, default, false);
        table[(int)Code.Mov_r32_imm32] = (InlineForm.Mov, default, true);
        table[(int)Code.Mov_rm32_imm32] = (InlineForm.Mov, default, true);
        table[(int)Code.Inc_r32] = (InlineForm.Inc, default, false);
        table[(int)Code.Inc_rm32] = (InlineForm.Inc, default, false);
        table[(int)Code.Dec_r32] = (InlineForm.Dec, default, false);
        table[(int)Code.Dec_rm32] = (InlineForm.Dec, default, false);
        table[(int)Code.Lea_r32_m] = (InlineForm.Lea, default, false);
        return table;
    }

    /// <summary>
    /// Emits a register-only form as inline IL calling the same flag helpers the handlers use (so the
    /// flags are the interpreter's by construction); false for anything else, which calls its handler.
    /// </summary>
    private static bool TryEmitInline(ILGenerator il, LocalBuilder regs, ref DecodedInstruction d)
    {
        var (form, op, immediate) = InlineForms[d.Code];
        if (form == InlineForm.None || (d.Flags & DecodedFlags.Lock) != 0) return false;
        if (form == InlineForm.Lea)
        {
            if (!d.HasMemory || !d.AddrSize32 || d.R0 > 7) return false;
            // R[R0] = R[base] + (R[index] << scale) + disp
            il.Emit(OpCodes.Ldloc, regs);
            il.Emit(OpCodes.Ldc_I4, (int)d.R0);
            EmitReg(il, regs, d.Base);
            EmitReg(il, regs, d.Index);
            il.Emit(OpCodes.Ldc_I4, (int)d.Scale);
            il.Emit(OpCodes.Shl);
            il.Emit(OpCodes.Add);
            il.Emit(OpCodes.Ldc_I4, (int)d.Disp);
            il.Emit(OpCodes.Add);
            il.Emit(OpCodes.Stelem_I4);
            return true;
        }
        if (d.HasMemory || d.R0 > 7 || (!immediate && form is InlineForm.Alu or InlineForm.Mov && d.R1 > 7)) return false;
        switch (form)
        {
            case InlineForm.Mov:
                il.Emit(OpCodes.Ldloc, regs);
                il.Emit(OpCodes.Ldc_I4, (int)d.R0);
                if (immediate) il.Emit(OpCodes.Ldc_I4, (int)d.Imm);
                else EmitReg(il, regs, d.R1);
                il.Emit(OpCodes.Stelem_I4);
                return true;
            case InlineForm.Inc:
            case InlineForm.Dec:
            {
                // CF survives INC and DEC: carry = _flags & CF; R0 = op(R0, 1); _flags = (_flags & ~CF) | carry
                var carry = il.DeclareLocal(typeof(uint));
                il.Emit(OpCodes.Ldarg_1);
                il.Emit(OpCodes.Ldfld, FieldFlags);
                il.Emit(OpCodes.Ldc_I4, (int)CF);
                il.Emit(OpCodes.And);
                il.Emit(OpCodes.Stloc, carry);
                il.Emit(OpCodes.Ldloc, regs);
                il.Emit(OpCodes.Ldc_I4, (int)d.R0);
                il.Emit(OpCodes.Ldarg_1);
                EmitReg(il, regs, d.R0);
                il.Emit(OpCodes.Ldc_I4_1);
                il.Emit(OpCodes.Ldc_I4_0);
                il.Emit(OpCodes.Call, form == InlineForm.Inc ? AddWithFlags32 : SubWithFlags32);
                il.Emit(OpCodes.Stelem_I4);
                il.Emit(OpCodes.Ldarg_1);
                il.Emit(OpCodes.Ldarg_1);
                il.Emit(OpCodes.Ldfld, FieldFlags);
                il.Emit(OpCodes.Ldc_I4, unchecked((int)~CF));
                il.Emit(OpCodes.And);
                il.Emit(OpCodes.Ldloc, carry);
                il.Emit(OpCodes.Or);
                il.Emit(OpCodes.Stfld, FieldFlags);
                return true;
            }
            case InlineForm.Alu:
            {
                bool writes = op is not (AluKind.Cmp or AluKind.Test);
                if (writes)
                {
                    il.Emit(OpCodes.Ldloc, regs);
                    il.Emit(OpCodes.Ldc_I4, (int)d.R0);
                }
                il.Emit(OpCodes.Ldarg_1);
                if (op is AluKind.Add or AluKind.Adc or AluKind.Sub or AluKind.Sbb or AluKind.Cmp)
                {
                    EmitReg(il, regs, d.R0);
                    EmitSecond(il, regs, ref d, immediate);
                    if (op is AluKind.Adc or AluKind.Sbb)
                    {
                        il.Emit(OpCodes.Ldarg_1);
                        il.Emit(OpCodes.Ldfld, FieldFlags);
                        il.Emit(OpCodes.Ldc_I4, (int)CF);
                        il.Emit(OpCodes.And);
                    }
                    else
                    {
                        il.Emit(OpCodes.Ldc_I4_0);
                    }
                    il.Emit(OpCodes.Call, op is AluKind.Add or AluKind.Adc ? AddWithFlags32 : SubWithFlags32);
                }
                else
                {
                    EmitReg(il, regs, d.R0);
                    EmitSecond(il, regs, ref d, immediate);
                    il.Emit(op switch { AluKind.Or => OpCodes.Or, AluKind.Xor => OpCodes.Xor, _ => OpCodes.And });
                    il.Emit(OpCodes.Call, LogicFlags32);
                }
                if (writes) il.Emit(OpCodes.Stelem_I4);
                else il.Emit(OpCodes.Pop);
                return true;
            }
        }
        return false;
    }

    private static void EmitSecond(ILGenerator il, LocalBuilder regs, ref DecodedInstruction d, bool immediate)
    {
        if (immediate) il.Emit(OpCodes.Ldc_I4, (int)d.Imm);
        else EmitReg(il, regs, d.R1);
    }

    private static void EmitReg(ILGenerator il, LocalBuilder regs, byte index)
    {
        il.Emit(OpCodes.Ldloc, regs);
        il.Emit(OpCodes.Ldc_I4, (int)index);
        il.Emit(OpCodes.Ldelem_U4);
    }

    /// <summary>_eip = the block's entry + <paramref name="offset"/> (the instruction after the one just emitted).</summary>
    private static void EmitSetEip(ILGenerator il, LocalBuilder entry, uint offset)
    {
        il.Emit(OpCodes.Ldarg_1);
        EmitEntryPlus(il, entry, offset);
        il.Emit(OpCodes.Stfld, FieldEip);
    }

    private static void EmitEntryPlus(ILGenerator il, LocalBuilder entry, uint offset)
    {
        il.Emit(OpCodes.Ldloc, entry);
        if (offset == 0) return;
        il.Emit(OpCodes.Ldc_I4, (int)offset);
        il.Emit(OpCodes.Add);
    }
}
