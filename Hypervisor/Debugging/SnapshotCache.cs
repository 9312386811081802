using VmFt.Guest.Machine;
using VmFt.Hypervisor.Recording;
using VmFt.ReplayLog.Events;

namespace VmFt.Hypervisor.Debugging;

/// <summary>
/// The snapshots of a replay session, within a memory budget: on a grid of <see cref="Interval"/>
/// positions, thinned (the interval doubles) when they outgrow the budget; the few nearby ones a
/// backward move takes just below its target; and the recording's own. Unchanged pages are
/// shared between snapshots and counted once.
/// </summary>
internal sealed class SnapshotCache(ulong interval, long budget)
{
    /// <summary>Nearby snapshots kept (see <see cref="KeepNearby"/>).</summary>
    public const int NearbyKept = 8;

    private readonly SortedList<ulong, SnapshotEntry> _entries = [];
    private readonly Dictionary<byte[], int> _pageReferences = new(ReferenceEqualityComparer.Instance);
    private readonly Queue<ulong> _nearby = new();
    private long _bytes;

    /// <summary>Positions between grid snapshots; doubles when the snapshots outgrow the budget.</summary>
    public ulong Interval { get; private set; } = interval;

    public int Count => _entries.Count;

    public SnapshotStatistics Statistics => new(_entries.Count, _bytes, budget, Interval);

    public bool Contains(ulong position) => _entries.ContainsKey(position);

    public bool TryGet(ulong position, out SnapshotEntry entry) => _entries.TryGetValue(position, out entry!);

    /// <summary>The latest snapshot at or before <paramref name="position"/> (there is always one at 0).</summary>
    public SnapshotEntry AtOrBefore(ulong position)
    {
        var keys = _entries.Keys;
        int lo = 0, hi = keys.Count - 1, found = 0;
        while (lo <= hi)
        {
            int mid = (lo + hi) / 2;
            if (keys[mid] <= position)
            {
                found = mid;
                lo = mid + 1;
            }
            else hi = mid - 1;
        }
        return _entries.Values[found];
    }

    public void Add(SnapshotEntry entry)
    {
        var snapshot = entry.Snapshot;
        foreach (var page in snapshot.Pages)
        {
            _pageReferences.TryGetValue(page, out int count);
            if (count == 0) _bytes += page.Length;
            _pageReferences[page] = count + 1;
        }
        _bytes += snapshot.FixedBytes;
        _entries[snapshot.Position] = entry;
    }

    /// <summary>Keeps the snapshot at <paramref name="position"/> when snapshots are thinned.</summary>
    public void Pin(ulong position)
    {
        if (_entries[position] is { Pinned: false } entry) _entries[position] = entry with { Pinned = true };
    }

    public void Remove(ulong position)
    {
        var snapshot = _entries[position].Snapshot;
        _entries.Remove(position);
        _bytes -= snapshot.FixedBytes;
        foreach (var page in snapshot.Pages)
        {
            int count = _pageReferences[page] - 1;
            if (count == 0)
            {
                _pageReferences.Remove(page);
                _bytes -= page.Length;
            }
            else _pageReferences[page] = count;
        }
    }

    /// <summary>Notes a nearby snapshot just added at <paramref name="position"/>; only the last <see cref="NearbyKept"/> stay.</summary>
    public void KeepNearby(ulong position)
    {
        _nearby.Enqueue(position);
        while (_nearby.Count > NearbyKept)
        {
            ulong old = _nearby.Dequeue();
            if (_entries.TryGetValue(old, out var entry) && !entry.Pinned && old % Interval != 0) Remove(old);
        }
    }

    /// <summary>Over budget: double the grid interval and drop the automatic snapshots that fall off it, until it fits.</summary>
    public void EnforceBudget()
    {
        while (_bytes > budget)
        {
            var removable = _entries.Where(s => !s.Value.Pinned).Select(s => s.Key).ToList();
            if (removable.Count == 0) return;
            if (Interval > ulong.MaxValue / 2) return;
            Interval *= 2;
            foreach (ulong p in removable)
                if (p % Interval != 0) Remove(p);
        }
    }

    /// <summary>
    /// Adds the recording's own snapshots (if it has any), so that moving far forwards starts near
    /// the target. Each carries only the pages changed since the one before, so they are rebuilt in
    /// order from the snapshot at 0, sharing unchanged pages; each keeps the hash of the checkpoint
    /// recorded with it, for its first restore.
    /// </summary>
    /// <exception cref="RecordingFormatException">A snapshot does not fit the machine, or its pages do not decode.</exception>
    public void LoadRecorded(IReadOnlyList<LogEvent> events, string path, PcMachine machine)
    {
        var pages = _entries.Values[0].Snapshot.Pages.ToArray();
        for (int i = 0; i < events.Count; i++)
        {
            if (events[i] is not SnapshotStateEvent state) continue;
            string where = $"{path}: the recording's snapshot at position {state.Position} (event #{state.Sequence})";
            if (state.RamPages != pages.Length)
                throw new RecordingFormatException($"{where} has {state.RamPages} RAM pages; the machine has {pages.Length}");
            ulong? expected = i > 0 && events[i - 1] is CheckpointEvent c && c.Position == state.Position ? c.StateHash : null;
            var current = (byte[][])pages.Clone();
            int fresh = 0, next = i + 1;
            for (; next < events.Count && events[next] is SnapshotPagesEvent run && run.Position == state.Position; next++)
            {
                if ((ulong)run.FirstPage + run.PageCount > (ulong)pages.Length)
                    throw new RecordingFormatException($"{where}: pages {run.FirstPage}+{run.PageCount} (event #{run.Sequence}) lie outside RAM");
                byte[] data;
                try
                {
                    data = SnapshotPageCodec.Decode(run);
                }
                catch (InvalidDataException e)
                {
                    throw new RecordingFormatException($"{where}: event #{run.Sequence}: {e.Message}", e);
                }
                for (int k = 0; k < run.PageCount; k++)
                    current[run.FirstPage + k] = data.AsSpan(k * MachineSnapshot.PageSize, MachineSnapshot.PageSize).ToArray();
                fresh += (int)run.PageCount;
            }
            pages = current;
            var snapshot = MachineSnapshot.FromParts(state.Position, state.CpuState, state.DeviceState, current, fresh);
            try
            {
                machine.CheckState(snapshot);
            }
            catch (MachineStateException e)
            {
                throw new RecordingFormatException($"{where}: {e.Message}", e);
            }
            if (!_entries.ContainsKey(state.Position))
                Add(new SnapshotEntry(snapshot, next, Pinned: false, expected));
            i = next - 1;
        }
    }
}
