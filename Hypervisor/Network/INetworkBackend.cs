using System.Diagnostics.CodeAnalysis;

namespace VmFt.Hypervisor.Network;

/// <summary>
/// Where the guest's network card is plugged in on the host. Frames that arrive wait in the backend
/// (bounded: beyond its limit they are dropped and counted) until the host takes them between
/// slices; what it takes reaches the guest only as logged events.
/// </summary>
public interface INetworkBackend : IDisposable
{
    /// <summary>A name for messages (the TAP interface's).</summary>
    string Name { get; }

    /// <summary>Takes the oldest frame that arrived, without blocking.</summary>
    bool TryReceive([NotNullWhen(true)] out byte[]? frame);

    /// <summary>Whether a frame is waiting.</summary>
    bool FrameWaiting { get; }

    /// <summary>Waits until a frame is waiting or the timeout passes; true if one is.</summary>
    bool WaitForFrame(TimeSpan timeout);

    /// <summary>Puts a frame the guest sent on the network.</summary>
    void Send(ReadOnlySpan<byte> frame);

    /// <summary>Frames that arrived while the backlog was full, dropped.</summary>
    ulong Dropped { get; }
}
