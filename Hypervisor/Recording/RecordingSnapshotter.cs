using VmFt.Guest.Machine;
using VmFt.Hypervisor.Determinism;
using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Format;

namespace VmFt.Hypervisor.Recording;

/// <summary>
/// Writes periodic snapshots into a recording, so that a debugger or a diff can start near any
/// position instead of replaying from power-on. Each snapshot is a checkpoint (to verify it by),
/// the CPU and device state, and the RAM pages that changed since the previous snapshot (since the
/// machine was loaded, for the first), in runs (<see cref="SnapshotPageCodec"/>).
/// </summary>
public sealed class RecordingSnapshotter
{
    private const int PageSize = MachineSnapshot.PageSize;
    private readonly PcMachine _machine;
    /// <summary>RAM as the previous snapshot (or the loaded machine) had it.</summary>
    private readonly byte[] _previous;
    private ulong _lastPosition;

    public RecordingSnapshotter(PcMachine machine, ulong interval)
    {
        ArgumentOutOfRangeException.ThrowIfZero(interval);
        _machine = machine;
        Interval = interval;
        _previous = (byte[])machine.Memory.Ram.Clone();
        _lastPosition = machine.Cpu.Position;
    }

    /// <summary>Instructions between snapshots.</summary>
    public ulong Interval { get; }

    /// <summary>Snapshots written so far, and the RAM pages they carried.</summary>
    public int Count { get; private set; }
    public long PagesWritten { get; private set; }

    /// <summary>Writes a snapshot through <paramref name="recorder"/> if one is due at the machine's position.</summary>
    public void MaybeSnapshot(Recorder recorder)
    {
        ulong position = _machine.Cpu.Position;
        if (position - _lastPosition < Interval) return;
        _lastPosition = position;
        recorder.MaybeCheckpoint(force: true);
        var (cpu, devices) = _machine.SaveStateBytes();
        int pages = _machine.Memory.Ram.Length / PageSize;
        recorder.Note((sequence, at) => new SnapshotStateEvent(sequence, at, cpu, devices, (uint)pages));
        var ram = _machine.Memory.Ram;
        int page = 0;
        while (page < pages)
        {
            if (Same(ram, page))
            {
                page++;
                continue;
            }
            int first = page;
            while (page < pages && page - first < LogBlockCodec.MaxSnapshotPagesPerEvent && !Same(ram, page)) page++;
            var run = ram.AsSpan(first * PageSize, (page - first) * PageSize);
            var (encoding, data) = SnapshotPageCodec.Encode(run);
            uint count = (uint)(page - first);
            recorder.Note((sequence, at) => new SnapshotPagesEvent(sequence, at, (uint)first, count, encoding, data));
            run.CopyTo(_previous.AsSpan(first * PageSize));
            PagesWritten += count;
        }
        Count++;
    }

    private bool Same(byte[] ram, int page) =>
        ram.AsSpan(page * PageSize, PageSize).SequenceEqual(_previous.AsSpan(page * PageSize, PageSize));
}
