namespace VmFt.Guest.Devices.Virtio;

/// <summary>
/// The driver broke the virtqueue rules (an address outside RAM, a descriptor index past the queue,
/// a loop in a chain, an indirect table inside an indirect table, ...). The device stops using the
/// queue and sets DEVICE_NEEDS_RESET; the host never sees an exception for what a guest wrote.
/// </summary>
internal sealed class VirtioError(string message) : Exception(message);
