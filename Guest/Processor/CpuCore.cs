namespace VmFt.Guest.Processor;

/// <summary>How the CPU executes guest code. Both cores reach the same state at every position.</summary>
public enum CpuCore
{
    /// <summary>One decoded instruction at a time through the handler table: the reference.</summary>
    Interpreter,
    /// <summary>Hot straight-line blocks compiled to .NET code, the interpreter for everything else.</summary>
    Translator,
}
