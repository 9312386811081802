namespace VmFt.Guest.Devices.Virtio;

/// <summary>What became of a frame handed to <see cref="VirtioNet.Receive"/>.</summary>
public enum NetReceiveResult
{
    /// <summary>The frame is in the guest's receive buffer and the used ring holds it.</summary>
    Delivered,
    /// <summary>The driver is not running or posted no receive buffer: dropped and counted.</summary>
    NoBuffer,
    /// <summary>The frame does not fit the receive chain at the head of the ring: dropped and counted, the chain kept for the next frame.</summary>
    TooLarge,
}
