namespace VmFt.Hypervisor.FaultTolerance;

/// <summary>
/// The guest's serial output as a numbered stream: every byte gets the next offset; bytes are kept
/// from the last offset the client is known to have until they are confirmed, so that a node that
/// goes live can re-send what the client may have missed.
/// </summary>
public sealed class OutputStream
{
    private readonly List<byte> _retained = [];
    private ulong _retainedStart;

    public OutputStream()
    {
    }

    /// <summary>A stream that starts at <paramref name="start"/> with <paramref name="retained"/> (a backup that joined: what the client may not have yet).</summary>
    public OutputStream(ulong start, ReadOnlySpan<byte> retained)
    {
        _retainedStart = start;
        _retained.AddRange(retained);
    }

    /// <summary>The first offset still kept: the client is known to have everything before it.</summary>
    public ulong Start => _retainedStart;

    /// <summary>When set, every byte ever appended is also kept here (checkers, the simulator).</summary>
    public List<byte>? History { get; init; }

    /// <summary>Total bytes the guest has produced.</summary>
    public ulong End => _retainedStart + (ulong)_retained.Count;

    public void Append(byte b)
    {
        _retained.Add(b);
        History?.Add(b);
    }

    /// <summary>The client has everything before <paramref name="offset"/>: stop keeping it.</summary>
    public void Confirm(ulong offset)
    {
        if (offset <= _retainedStart) return;
        int drop = (int)Math.Min(offset - _retainedStart, (ulong)_retained.Count);
        _retained.RemoveRange(0, drop);
        _retainedStart += (ulong)drop;
    }

    /// <summary>The retained bytes in [from, to).</summary>
    public byte[] Slice(ulong from, ulong to)
    {
        from = Math.Max(from, _retainedStart);
        to = Math.Min(to, End);
        if (to <= from) return [];
        return _retained.GetRange((int)(from - _retainedStart), (int)(to - from)).ToArray();
    }
}
