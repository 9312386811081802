namespace VmFt.Hypervisor.Cli;

/// <summary>Input the user got wrong: printed as one line, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);
