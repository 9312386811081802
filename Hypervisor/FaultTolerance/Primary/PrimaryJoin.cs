using System.Diagnostics;
using System.Net;
using VmFt.Channel;
using VmFt.Guest.Machine;

namespace VmFt.Hypervisor.FaultTolerance.Primary;

/// <summary>
/// A live copy of a running primary's machine to one joining backup. Pre-copy: all of RAM, then
/// round after round the pages the guest wrote during the round before, a little between the
/// guest's steps, so the guest keeps running (and its output is released as before: the joiner
/// holds nothing back). Once a round is small enough, or stops shrinking, or the rounds run out,
/// stop-and-copy: between two steps the last written pages, the CPU, the devices and where the log
/// goes on (<see cref="PrimaryNode.AttachBackup"/>), and from then on the backup counts for the
/// output rule.
/// </summary>
public sealed class PrimaryJoin
{
    /// <summary>A round of at most this many pages is copied with the guest stood still.</summary>
    public const int StopCopyPages = 1024;

    /// <summary>Pre-copy rounds at most (a guest that writes faster than the copy never converges).</summary>
    public const int MaxRounds = 8;

    // Host time spent copying before the guest gets its next step.
    private static readonly TimeSpan CopySlice = TimeSpan.FromMilliseconds(2);

    private readonly PcMachine _machine;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private List<int> _round;
    private int _next;

    public PrimaryJoin(LogChannel channel, EndPoint? peer, PcMachine machine)
    {
        Channel = channel;
        Peer = peer;
        _machine = machine;
        _machine.RestartWrittenPages();
        int count = machine.Memory.Ram.Length / MachineSnapshot.PageSize;
        _round = new List<int>(count);
        for (int i = 0; i < count; i++) _round.Add(i);
    }

    public LogChannel Channel { get; }
    public EndPoint? Peer { get; }

    /// <summary>Rounds so far (the first copies all of RAM); the stop-and-copy is not counted.</summary>
    public int Rounds { get; private set; } = 1;
    public long PagesCopied { get; private set; }

    /// <summary>The node counts the backup from here (<see cref="PrimaryNode.AttachBackup"/> was called).</summary>
    public bool Attached { get; private set; }

    /// <summary>
    /// Copies for a moment while the guest runs; true once the pre-copy is over and
    /// <see cref="StopAndCopyAsync"/> must follow before the guest's next step.
    /// </summary>
    public async ValueTask<bool> PreCopyAsync(CancellationToken cancellationToken)
    {
        var until = _clock.Elapsed + CopySlice;
        while (_next < _round.Count)
        {
            await SendPagesAsync(cancellationToken).ConfigureAwait(false);
            if (_clock.Elapsed >= until) return false;
        }
        var written = WrittenPages();
        if (written.Count <= StopCopyPages || Rounds >= MaxRounds || written.Count > _round.Count * 3 / 4)
            return true;
        _machine.RestartWrittenPages();
        _round = written;
        _next = 0;
        Rounds++;
        return false;
    }

    /// <summary>With the guest stood still: the pages written since the last round, then the rest of the state. Returns the figures.</summary>
    public async Task<JoinFigures> StopAndCopyAsync(PrimaryNode node, CancellationToken cancellationToken)
    {
        var pause = Stopwatch.StartNew();
        _round = WrittenPages();
        _next = 0;
        while (_next < _round.Count) await SendPagesAsync(cancellationToken).ConfigureAwait(false);
        int lastRound = _round.Count;
        var hashing = Stopwatch.StartNew();
        var final = node.AttachBackup((uint)Rounds);
        var hashTime = hashing.Elapsed;
        Attached = true;
        var bytes = JoinState.EncodeFinal(final);
        try
        {
            for (int at = 0; at < bytes.Length; at += JoinState.FinalPieceBytes)
            {
                int n = Math.Min(JoinState.FinalPieceBytes, bytes.Length - at);
                await Channel.SendStateAsync(at + n == bytes.Length ? JoinState.FinalKind : JoinState.FinalPartKind, bytes.AsMemory(at, n), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (ChannelClosedException)
        {
            // Attached all the same: the channel's end is a lost backup, for the host to contend over.
        }
        return new JoinFigures(_clock.Elapsed, pause.Elapsed, hashTime, Rounds, PagesCopied, lastRound, final.Position);
    }

    private async ValueTask SendPagesAsync(CancellationToken cancellationToken)
    {
        int n = Math.Min(JoinState.PagesPerFrame, _round.Count - _next);
        var body = JoinState.EncodePages(_machine.Memory.Ram, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_round).Slice(_next, n));
        _next += n;
        PagesCopied += n;
        await Channel.SendStateAsync(JoinState.PagesKind, body, cancellationToken).ConfigureAwait(false);
    }

    private List<int> WrittenPages()
    {
        var memory = _machine.Memory;
        int count = memory.Ram.Length / MachineSnapshot.PageSize;
        var written = new List<int>();
        for (int i = 0; i < count; i++)
            if (memory.WasWritten(i)) written.Add(i);
        return written;
    }
}

/// <summary>What one join cost: the time to a complete replica and the guest's pause, the rounds and pages copied.</summary>
/// <param name="Pause">The guest stood still: the last pages, the checkpoint, CPU and devices.</param>
/// <param name="Checkpoint">The part of the pause that hashed the state for the checkpoint the log starts with (all of RAM, as every checkpoint does).</param>
/// <param name="LastRoundPages">Pages copied with the guest stood still.</param>
/// <param name="Position">Where the joined backup's log starts.</param>
public sealed record JoinFigures(TimeSpan Total, TimeSpan Pause, TimeSpan Checkpoint, int Rounds, long Pages, int LastRoundPages, ulong Position)
{
    public override string ToString() => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"join_ms={Total.TotalMilliseconds:F1} pause_ms={Pause.TotalMilliseconds:F2} checkpoint_ms={Checkpoint.TotalMilliseconds:F2} rounds={Rounds} pages={Pages} stop_copy_pages={LastRoundPages} instruction={Position}");
}
