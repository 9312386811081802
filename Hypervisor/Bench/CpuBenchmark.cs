using System.Text;
using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Guest.Processor;
using VmFt.Hypervisor.Live;
using VmFt.ReplayLog;

namespace VmFt.Hypervisor.Bench;

/// <summary>The interpreter's own speed: the bundled cpubench guest, and a tight register loop, in virtual time.</summary>
public static class CpuBenchmark
{
    /// <summary>A register-only integer loop: the interpreter's best case, the figure to compare with other interpreters' MIPS.</summary>
    public static RunOutcome RunLoop(uint iterations)
    {
        var a = new Iced.Intel.Assembler(32);
        var top = a.CreateLabel();
        a.mov(Iced.Intel.AssemblerRegisters.ecx, iterations);
        a.Label(ref top);
        a.add(Iced.Intel.AssemblerRegisters.eax, Iced.Intel.AssemblerRegisters.ecx);
        a.xor(Iced.Intel.AssemblerRegisters.ebx, Iced.Intel.AssemblerRegisters.eax);
        a.dec(Iced.Intel.AssemblerRegisters.ecx);
        a.jnz(top);
        a.mov(Iced.Intel.AssemblerRegisters.al, 0);
        a.@out(0xF4, Iced.Intel.AssemblerRegisters.al);
        const uint origin = 0x0010_0000;
        var code = new MemoryStream();
        a.Assemble(new Iced.Intel.StreamCodeWriter(code), origin);
        var machine = new PcMachine(new MachineConfiguration { RamSize = 4u << 20 });
        var state = RawLoader.Load(machine.Memory, code.ToArray(), "loop", origin, origin, BootMode.FlatProtected);
        state.ApplyTo(machine.Cpu);
        return new LiveRunner(machine, ClockMode.Virtual, null).Run(0);
    }

    /// <summary>Runs cpubench to its exit in virtual time; returns the outcome and what it printed.</summary>
    public static (RunOutcome Outcome, string SerialOutput) RunCpubench(int iterations, ulong maxInstructions = 0)
    {
        var (outcome, output, _) = RunCpubench(iterations, CpuCore.Interpreter, maxInstructions);
        return (outcome, output);
    }

    /// <summary>Runs cpubench to its exit in virtual time on the given core; also returns the translation figures.</summary>
    public static (RunOutcome Outcome, string SerialOutput, TranslationStatistics Translation) RunCpubench(int iterations, CpuCore core, ulong maxInstructions = 0, ITranslationProfiler? profiler = null)
    {
        var machine = new PcMachine(new MachineConfiguration());
        machine.Cpu.Core = core;
        machine.Cpu.TranslationProfiler = profiler;
        var output = new StringBuilder();
        machine.LoadMultiboot(BundledImages.Get("cpubench"), "cpubench",
            new MultibootOptions { CommandLine = iterations > 0 ? $"iterations={iterations}" : "" });
        machine.SerialOutput = b => output.Append((char)b);
        var outcome = new LiveRunner(machine, ClockMode.Virtual, null).Run(maxInstructions);
        return (outcome, output.ToString(), machine.Cpu.Translation);
    }
}
