namespace VmFt.Hypervisor.Debugging.Terminal;

/// <summary>A command the user got wrong: printed as one line, and the session goes on.</summary>
public sealed class CommandException(string message) : Exception(message);
