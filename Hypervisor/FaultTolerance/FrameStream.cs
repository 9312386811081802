namespace VmFt.Hypervisor.FaultTolerance;

/// <summary>
/// The guest's transmitted network frames as a numbered stream, as <see cref="OutputStream"/> is
/// for serial bytes: every frame gets the next number in the guest's transmit order; frames are
/// kept from the first one the network is not known to have until they are confirmed, so that a
/// node that goes live can send again what the relay may not have put on the network.
/// </summary>
public sealed class FrameStream
{
    private readonly List<byte[]> _retained = [];
    private ulong _retainedStart;

    /// <summary>When set, every frame ever appended is also kept here (tests, checkers).</summary>
    public List<byte[]>? History { get; init; }

    /// <summary>The first number still kept: the network has every frame before it.</summary>
    public ulong Start => _retainedStart;

    /// <summary>Frames the guest has transmitted: the next frame's number.</summary>
    public ulong End => _retainedStart + (ulong)_retained.Count;

    public void Append(byte[] frame)
    {
        _retained.Add(frame);
        History?.Add(frame);
    }

    /// <summary>The network has every frame before <paramref name="end"/>: stop keeping them.</summary>
    public void Confirm(ulong end)
    {
        if (end <= _retainedStart) return;
        int drop = (int)Math.Min(end - _retainedStart, (ulong)_retained.Count);
        _retained.RemoveRange(0, drop);
        _retainedStart += (ulong)drop;
    }

    /// <summary>Frame number <paramref name="index"/>, if still kept.</summary>
    public byte[]? Get(ulong index) =>
        index >= _retainedStart && index < End ? _retained[(int)(index - _retainedStart)] : null;
}
