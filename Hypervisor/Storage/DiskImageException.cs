namespace VmFt.Hypervisor.Storage;

/// <summary>A disk image the user named cannot serve as the guest's disk: one line saying which file and why.</summary>
public sealed class DiskImageException(string message, Exception? inner = null) : InputException(message, inner);
