namespace VmFt.Channel.Transport;

/// <summary>
/// A transport that can say how many bytes from the peer have reached this end, whether or not the
/// channel's reader has taken them yet. A process starved of CPU may run its watchdog while its
/// reader has not run: the peer's heartbeats are then waiting in the socket, and the peer is not
/// silent at all. The watchdog counts any growth of this figure as hearing the peer.
/// </summary>
public interface IInputArrival
{
    /// <summary>Bytes received so far plus those waiting in the socket unread; only grows while the connection lives.</summary>
    long BytesArrived { get; }
}
