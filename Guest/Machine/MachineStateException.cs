namespace VmFt.Guest.Machine;

/// <summary>
/// Saved machine state (a snapshot's, a recording's) that this build's machine cannot take: another
/// layout or version of the CPU's or a device's state, a device the machine lacks or does not have,
/// or bytes that do not parse. The message is one line naming the part and the reason.
/// </summary>
public sealed class MachineStateException(string message) : Exception(message);
