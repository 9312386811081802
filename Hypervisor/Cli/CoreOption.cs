using System.CommandLine;
using VmFt.Guest.Processor;

namespace VmFt.Hypervisor.Cli;

/// <summary><c>--core interp|jit</c>: which CPU core runs the guest (both reach the same state at every position).</summary>
public static class CoreOption
{
    public static Option<string> Create(string defaultValue = "interp", string description = "CPU core: interp (the interpreter) or jit (compiled blocks, interpreter fallback)")
        => new("--core") { Description = description, DefaultValueFactory = _ => defaultValue };

    /// <summary>One line of translation figures for a run of <paramref name="instructions"/> (compile time only when timed).</summary>
    public static string Describe(TranslationStatistics t, ulong instructions, TimeSpan? compileTime = null)
        => $"{t.BlocksTranslated} blocks translated ({t.BlocksShared} reusing code compiled earlier in the process, {t.InstructionsTranslated} instructions, {t.InstructionsInlined} of them inline, the rest through their handlers, {t.IlBytes} IL bytes"
           + (compileTime is { } c ? $", compile {c.TotalMilliseconds:F1} ms" : "")
           + $"), cache {t.LiveBlocks} blocks / {t.LiveInstructions} instructions, {t.BlocksInvalidated} invalidated, {t.CacheFlushes} flushes, "
           + $"{t.BlockRuns} block runs, {(instructions == 0 ? 0 : 100.0 * t.InstructionsRunTranslated / instructions):F1}% of instructions run translated";

    public static CpuCore Parse(string? value) => value switch
    {
        "interp" => CpuCore.Interpreter,
        "jit" => CpuCore.Translator,
        _ => throw new UsageException($"--core: '{value}' is not a core (interp or jit)"),
    };
}
