using System.CommandLine;
using VmFt.Guest.Processor;

namespace VmFt.Hypervisor.Cli;

/// <summary><c>--core interp|jit</c>: which CPU core runs the guest (both reach the same state at every position).</summary>
public static class CoreOption
{
    public static Option<string> Create(string defaultValue = "interp", string description = "CPU core: interp (the interpreter) or jit (compiled blocks, interpreter fallback)")
        => new("--core") { Description = description, DefaultValueFactory = _ => defaultValue };

    public static CpuCore Parse(string? value) => value switch
    {
        "interp" => CpuCore.Interpreter,
        "jit" => CpuCore.Translator,
        _ => throw new UsageException($"--core: '{value}' is not a core (interp or jit)"),
    };
}
