using Iced.Intel;
using VmFt.Guest.Processor;
using static Iced.Intel.AssemblerRegisters;

namespace VmFt.Guest.Tests.Processor;

/// <summary>
/// The translating core against the interpreter: random loops built with Iced's assembler (ALU,
/// memory read-modify-writes in 8, 16 and 32 bits, stack pairs, forward branches, RDTSC, port
/// writes, divisions that fault #DE, page faults on a page the loop unmaps, accesses that cross
/// into it, stores into the loop's own code), under paging, run by both cores in the same random slices with
/// interrupts raised at random slice ends, compared register for register after every slice and
/// byte for byte at the end.
/// </summary>
public sealed class TranslatorDifferentialTests
{
    private const uint Program = 0x40000, Data = 0x60000, Counters = 0x61000;
    /// <summary>A data page that the loop unmaps now and then (its #PF handler maps it again), so that inline accesses fault.</summary>
    private const uint FaultPage = 0x62000, FaultPte = SystemTestKit.PageTable0 + (FaultPage >> 12) * 4;

    /// <summary>The CI budget: a fixed set of seeds. <c>VMFT_DIFF_SEEDS</c> is not read: longer runs use <see cref="Run"/> from a command.</summary>
    public static IEnumerable<object[]> Seeds() => Enumerable.Range(1, 60).Select(s => new object[] { s });

    [Theory]
    [MemberData(nameof(Seeds))]
    public void TranslatedRunMatchesInterpreted(int seed)
    {
        var mismatch = Run(seed, threshold: seed % 4 == 1 ? 1 : 1 + seed % 3);
        Assert.Null(mismatch);
    }

    [Fact]
    public void TheTranslatorActuallyRunsMostOfThePrograms()
    {
        // Loops that rewrite their own code every iteration never get hot; over ten seeds most run translated.
        ulong translated = 0, total = 0, blocks = 0, pageFaults = 0;
        for (int seed = 1; seed <= 10; seed++)
        {
            var (kit, _) = Build(seed, CpuCore.Translator, threshold: 1);
            kit.Cpu.Run(2_000_000);
            translated += kit.Cpu.Translation.InstructionsRunTranslated;
            blocks += kit.Cpu.Translation.BlocksTranslated;
            total += kit.Cpu.Position;
            pageFaults += kit.ReadU32(Counters + 4);
        }
        Assert.True(blocks > 0);
        Assert.True(pageFaults > 0, "no seed took a page fault");
        Assert.True(translated > total / 2, $"{translated} of {total} instructions run translated");
    }

    [Fact]
    public void AStoreIntoTheRunningBlockStopsItBeforeTheStaleInstruction()
    {
        // The store rewrites the immediate of the very next instruction in the same block.
        static SystemTestKit Make(CpuCore core, uint target)
        {
            var kit = new SystemTestKit();
            kit.Cpu.Core = core;
            kit.Cpu.TranslateThreshold = 1;
            kit.Start(a => a.jmp(Program));
            kit.Assemble(Program, a =>
            {
                var top = a.CreateLabel();
                a.mov(ecx, 5u);
                a.mov(ebx, 0u);
                a.Label(ref top);
                a.mov(__byte_ptr[target], cl);
                a.mov(eax, 0x11u);
                a.add(ebx, eax);
                a.dec(ecx);
                a.jnz(top);
                a.hlt();
            });
            return kit;
        }
        // Pass one finds the immediate's address (the store's length does not depend on it).
        uint immediate = FindMovEaxImmediate(Make(CpuCore.Interpreter, 0), 0x11);
        var sums = new uint[2];
        foreach (var core in new[] { CpuCore.Interpreter, CpuCore.Translator })
        {
            var kit = Make(core, immediate);
            Assert.Equal(CpuExit.Halted, kit.Cpu.Run(10_000));
            sums[(int)core] = kit.Cpu.Ebx;
            if (core == CpuCore.Translator) Assert.True(kit.Cpu.Translation.BlocksInvalidated > 0);
        }
        Assert.Equal(5u + 4 + 3 + 2 + 1, sums[0]);
        Assert.Equal(sums[0], sums[1]);
    }

    private static uint FindMovEaxImmediate(SystemTestKit kit, uint value)
    {
        var ram = kit.H.Memory.Ram;
        for (uint a = Program; a < Program + 0x100; a++)
            if (ram[a] == 0xB8 && BitConverter.ToUInt32(ram, (int)a + 1) == value) return a + 1;
        throw new InvalidOperationException("mov eax, imm32 not found");
    }

    /// <summary>Runs one seed under both cores; null when they agree, else where and how they differ.</summary>
    public static string? Run(int seed, int threshold)
    {
        var (interp, _) = Build(seed, CpuCore.Interpreter, threshold);
        var (jit, _) = Build(seed, CpuCore.Translator, threshold);
        var slices = new Random(seed * 7919 + 1);
        ulong until = 0;
        for (int slice = 0; slice < 4000; slice++)
        {
            until += (ulong)(slices.Next(4) == 0 ? slices.Next(1, 4) : slices.Next(1, 300));
            if (slices.Next(5) == 0)
            {
                interp.Cpu.InterruptLine = true;
                jit.Cpu.InterruptLine = true;
            }
            var a = interp.Cpu.Run(until);
            var b = jit.Cpu.Run(until);
            string? diff = Compare(interp.Cpu, jit.Cpu);
            if (a != b) diff ??= $"exit {a} vs {b}";
            if (diff is not null) return $"seed {seed}, slice {slice} (until {until}): {diff}";
            if (a is CpuExit.Shutdown or CpuExit.Halted && !interp.Cpu.InterruptLine) break;
        }
        if (!interp.H.Memory.Ram.AsSpan().SequenceEqual(jit.H.Memory.Ram))
        {
            var x = interp.H.Memory.Ram;
            var y = jit.H.Memory.Ram;
            int i = 0;
            while (x[i] == y[i]) i++;
            return $"seed {seed}: memory differs first at 0x{i:X}";
        }
        if (!interp.H.PortWrites.SequenceEqual(jit.H.PortWrites)) return $"seed {seed}: port writes differ";
        return null;
    }

    private static string? Compare(Cpu x, Cpu y)
    {
        if (x.Position != y.Position) return $"position {x.Position} vs {y.Position}";
        if (x.Eip != y.Eip) return $"EIP {x.Eip:X8} vs {y.Eip:X8}";
        if (x.Eflags != y.Eflags) return $"EFLAGS {x.Eflags:X8} vs {y.Eflags:X8}";
        for (int r = 0; r < 8; r++)
            if (x.GetRegister(r) != y.GetRegister(r)) return $"register {r}: {x.GetRegister(r):X8} vs {y.GetRegister(r):X8}";
        if (x.Halted != y.Halted) return $"halted {x.Halted} vs {y.Halted}";
        return null;
    }

    private static uint PatchTarget(List<int> ops, uint[] targets, int from, int byteInImmediate)
    {
        for (int k = 1; k <= ops.Count; k++)
        {
            int j = (from + k) % ops.Count;
            if (ops[j] == 23) return targets[j] + (uint)byteInImmediate;
        }
        return Data + 0x800;
    }

    private static readonly AssemblerRegister32[] Free = [eax, ebx, edx, edi];
    private static readonly AssemblerRegister8[] Free8 = [al, bl, dl, ah, bh, dh];

    /// <summary>The program for <paramref name="seed"/>, loaded into a fresh machine running <paramref name="core"/>.</summary>
    private static (SystemTestKit Kit, int Instructions) Build(int seed, CpuCore core, int threshold)
    {
        var kit = new SystemTestKit();
        kit.H.LowerLineOnAcknowledge = true;
        // RDTSC at some positions raises INTR from inside an instruction, as a device would.
        kit.H.RaiseLineOnTscRead = position => position % 3 == 0;
        kit.Cpu.Core = core;
        kit.Cpu.TranslateThreshold = threshold;
        // #DE: make the divisor non-zero and run the division again.
        uint divide = SystemTestKit.Handlers;
        kit.Assemble(divide, a => { a.mov(ebx, 3u); a.iretd(); });
        kit.SetGate(0, divide);
        // The timer: count, and return.
        uint timer = SystemTestKit.Handlers + 0x100;
        kit.Assemble(timer, a => { a.inc(__dword_ptr[Counters]); a.iretd(); });
        kit.SetGate(0x20, timer);
        // #PF: map the page again and restart the access.
        uint pageFault = SystemTestKit.Handlers + 0x200;
        kit.Assemble(pageFault, a => { a.mov(__dword_ptr[FaultPte], FaultPage | 7); a.inc(__dword_ptr[Counters + 4]); a.add(esp, 4); a.iretd(); });
        kit.SetGate(14, pageFault);
        kit.BuildIdentityPaging();
        kit.Start(a =>
        {
            a.mov(eax, SystemTestKit.PageDirectory);
            a.mov(cr3, eax);
            a.mov(eax, cr0);
            a.or(eax, unchecked((int)0x8000_0000));
            a.mov(cr0, eax);
            a.jmp(Program);
        });

        // Two passes: the self-modifying stores name the addresses of immediates found by the first.
        var rng = new Random(seed);
        int bodyLength = rng.Next(8, 40);
        var ops = new List<int>();
        for (int i = 0; i < bodyLength; i++)
        {
            // Self-modifying stores and their targets are drawn more often than the rest.
            int op = rng.Next(36);
            op = op < 29 ? op : op < 32 ? 20 : 23;
            if (op == 20 && seed % 2 == 0) op = 0; // half the seeds never modify their code
            ops.Add(op);
        }
        var choices = new int[bodyLength * 8];
        for (int i = 0; i < choices.Length; i++) choices[i] = rng.Next(1 << 20);
        uint[] targets = new uint[bodyLength];
        AssemblerResult result = default;
        int count = 0;
        for (int pass = 0; pass < 2; pass++)
        {
            var labels = new Label[bodyLength];
            kit.Assemble(Program, a =>
            {
                for (int i = 0; i < bodyLength; i++) labels[i] = a.CreateLabel();
                var top = a.CreateLabel();
                a.mov(esi, Data);
                a.mov(ebp, Data + 0x400);
                foreach (var r in Free) a.mov(r, (uint)choices[(int)r.Value % choices.Length] * 2654435761u);
                a.mov(ecx, (uint)(50 + seed % 200));
                a.sti();
                a.Label(ref top);
                for (int i = 0; i < bodyLength; i++)
                {
                    int c = choices[i * 8];
                    var r1 = Free[c & 3];
                    var r2 = Free[(c >> 2) & 3];
                    var b1 = Free8[(c >> 4) % 6];
                    int disp = ((c >> 7) & 0x3F) * 4;
                    uint imm = (uint)choices[i * 8 + 1] * 40503u;
                    switch (ops[i])
                    {
                        case 0: a.add(r1, r2); break;
                        case 1: a.sub(r1, (int)imm); break;
                        case 2: a.xor(r1, r2); a.adc(r2, r1); break;
                        case 3: a.and(r1, (int)imm | 0x100); a.or(r2, r1); break;
                        case 4: a.add(__dword_ptr[esi + disp], r1); break;
                        case 5: a.mov(r1, __dword_ptr[ebp + disp]); break;
                        case 6: a.mov(__dword_ptr[ebp + disp], r2); break;
                        case 7: a.inc(r1); a.dec(r2); break;
                        case 8: a.shl(r1, (byte)(c & 31)); a.sar(r2, 1); break;
                        case 9: a.imul(r1, r2); break;
                        case 10: a.lea(r1, __[r2 + r1 * 2 + disp]); break;
                        case 11: a.push(r1); a.push(__dword_ptr[esi + disp]); a.pop(r1); a.pop(r2); break;
                        case 12: a.cmp(r1, r2); a.sete(b1); break;
                        case 13: a.test(r1, (int)imm); a.cmovne(r1, r2); break;
                        case 14: a.movzx(r1, __byte_ptr[esi + disp + 1]); a.movsx(r2, b1); break;
                        case 15: a.xchg(r1, r2); a.sbb(r1, __dword_ptr[esi + disp]); break;
                        case 16:
                        {
                            var skip = a.CreateLabel();
                            a.cmp(r1, r2);
                            if ((c & 1) == 0) a.jb(skip); else a.jge(skip);
                            a.add(r2, 0x55);
                            a.neg(r1);
                            a.Label(ref skip);
                            break;
                        }
                        case 17: a.rdtsc(); break;
                        case 18: a.@out(0x80, al); break;
                        case 19: a.mov(edx, 0u); a.div(ebx); a.and(ebx, 0x7); break; // ebx = 0 one time in eight: #DE
                        case 20:
                        {
                            // Patch the immediate of a "mov edi, imm32" in the loop (the next one, wrapping; data if
                            // none), one iteration in eight, so that the loop gets hot between patches.
                            // Some seeds patch every iteration: a block then stores into code it holds itself.
                            var skip = a.CreateLabel();
                            if (seed % 4 == 3)
                            {
                                a.test(cl, 7);
                                a.jnz(skip);
                            }
                            a.mov(__byte_ptr[PatchTarget(ops, targets, i, c & 3)], b1);
                            a.Label(ref skip);
                            a.nop();
                            break;
                        }
                        case 21:
                            // An interrupt raised while IF is clear waits out STI's shadow: it comes after the
                            // register-only instruction behind the STI, not after the next one.
                            a.cli();
                            a.rdtsc();
                            a.sti();
                            a.add(r1, r2);
                            a.xor(r2, r1);
                            a.pushfd();
                            a.popfd();
                            break;
                        case 22: a.xor(__dword_ptr[esi + disp + 2], (int)imm); a.not(r1); break;
                        case 24: a.mov(__dword_ptr[FaultPte], 0); a.invlpg(__byte_ptr[FaultPage]); break; // the next access to it faults
                        case 25:
                            switch (c & 3)
                            {
                                case 0: a.add(__dword_ptr[FaultPage + disp], r1); break;
                                case 1: a.mov(r1, __dword_ptr[FaultPage + disp]); break;
                                case 2: a.movzx(r1, __word_ptr[FaultPage + disp + 1]); break;
                                default: a.cmp(__byte_ptr[FaultPage + disp + 3], b1); a.setb(b1); break;
                            }
                            break;
                        case 26:
                            // Across the page boundary into the page that may be unmapped: a read, then a store.
                            a.mov(r1, __dword_ptr[FaultPage - 2]);
                            a.mov(__dword_ptr[FaultPage - 1 - (c & 1)], r2);
                            break;
                        case 27:
                            a.mov(__byte_ptr[esi + disp], b1);
                            a.add(b1, __byte_ptr[esi + disp + 1]);
                            a.sub(__word_ptr[ebp + disp], (short)(imm & 0x7FFF));
                            a.mov(dx, __word_ptr[esi + disp + 2]);
                            break;
                        case 28:
                            a.movsx(r1, __word_ptr[ebp + disp]);
                            a.or(__byte_ptr[ebp + disp + 1], (byte)imm);
                            a.inc(__word_ptr[esi + disp]);
                            a.test(__dword_ptr[esi + disp], r2);
                            break;
                        default: a.nop(); a.Label(ref labels[i]); a.mov(edi, imm); break; // the nop keeps labels apart
                    }
                }
                a.dec(ecx);
                a.jnz(top);
                var end = a.CreateLabel();
                a.Label(ref end);
                a.hlt();
                a.jmp(end);
            }, out result);
            // A "mov edi, imm32" op is labelled: its immediate is at +1.
            for (int i = 0; i < bodyLength; i++)
                if (ops[i] == 23) targets[i] = SystemTestKit.At(result, labels[i]) + 1;
            count = bodyLength;
        }
        return (kit, count);
    }
}
