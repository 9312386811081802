namespace VmFt.Hypervisor.Images;

/// <summary>A guest image that cannot be used: no such file or bundled guest, unreadable, not loadable, or not the one a recording names.</summary>
public sealed class GuestImageException(string message, Exception? inner = null) : InputException(message, inner);
