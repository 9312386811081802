namespace VmFt.Hypervisor.Network;

/// <summary>The network the user named cannot be opened (no /dev/net/tun, no permission, name in use): one line saying which and why.</summary>
public sealed class NetworkBackendException(string message, Exception? inner = null) : InputException(message, inner);
