using System.Diagnostics;
using System.Net;
using VmFt.Channel;
using VmFt.Guest.Machine;

namespace VmFt.Hypervisor.FaultTolerance.Primary;

/// <summary>
/// A live copy of a running primary's machine to one joining backup. Pre-copy: all of RAM, then
/// round after round the pages the guest wrote during the round before, sent by a task of its own
/// while the guest keeps running (and its output is released as before: the joiner holds nothing
/// back); a slow joiner slows the copy, never the guest. A page read while the guest writes it is
/// noted as written and comes again, so a torn copy never survives. Once a round is small enough,
/// or stops shrinking, or the rounds run out, stop-and-copy: between two steps the last written
/// pages, the CPU, the devices and where the log goes on (<see cref="PrimaryNode.AttachBackup"/>),
/// and from then on the backup counts for the output rule.
/// </summary>
public sealed class PrimaryJoin
{
    /// <summary>A round of at most this many pages is copied with the guest stood still.</summary>
    public const int StopCopyPages = 1024;

    /// <summary>Pre-copy rounds at most (a guest that writes faster than the copy never converges).</summary>
    public const int MaxRounds = 8;

    private readonly PcMachine _machine;
    private readonly WakeSignal? _wake;
    private readonly CancellationToken _token;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private List<int> _round = [];
    private Task<ChannelClosedException?> _sending = Task.FromResult<ChannelClosedException?>(null);
    private long _pagesCopied;

    /// <param name="wake">Set when a round has been sent, so an idle host looks again at once.</param>
    public PrimaryJoin(LogChannel channel, EndPoint? peer, PcMachine machine, WakeSignal? wake = null, CancellationToken token = default)
    {
        Channel = channel;
        Peer = peer;
        _machine = machine;
        _wake = wake;
        _token = token;
        int count = machine.Memory.Ram.Length / MachineSnapshot.PageSize;
        var all = new List<int>(count);
        for (int i = 0; i < count; i++) all.Add(i);
        StartRound(all);
    }

    public LogChannel Channel { get; }
    public EndPoint? Peer { get; }

    /// <summary>Rounds so far (the first copies all of RAM); the stop-and-copy is not counted.</summary>
    public int Rounds { get; private set; } = 1;

    /// <summary>Pages sent so far (read between the guest's steps, once a round is over).</summary>
    public long PagesCopied => Interlocked.Read(ref _pagesCopied);

    /// <summary>The node counts the backup from here (<see cref="PrimaryNode.AttachBackup"/> was called).</summary>
    public bool Attached { get; private set; }

    /// <summary>
    /// Between two steps of the guest: true once the pre-copy is over, and
    /// <see cref="StopAndCopyAsync"/> must follow before the next step. Starts the next round when
    /// one has been sent.
    /// </summary>
    /// <exception cref="ChannelClosedException">The channel ended during the copy.</exception>
    public bool PreCopyDone()
    {
        if (!_sending.IsCompleted) return false;
        if (_sending.Result is { } closed) throw closed;
        var written = WrittenPages(_machine);
        if (PreCopyOver(Rounds, _round.Count, written.Count)) return true;
        Rounds++;
        StartRound(written);
        return false;
    }

    /// <summary>
    /// After <paramref name="rounds"/> rounds, the last of <paramref name="roundPages"/> pages, with
    /// <paramref name="written"/> pages written meanwhile: the rest goes with the guest stood still
    /// once it is small enough, stops shrinking by a quarter, or the rounds run out.
    /// </summary>
    internal static bool PreCopyOver(int rounds, int roundPages, int written) =>
        written <= StopCopyPages || rounds >= MaxRounds || written > roundPages * 3 / 4;

    // Written-page tracking starts anew on the guest's thread, before any page of the round is read.
    private void StartRound(List<int> pages)
    {
        _machine.RestartWrittenPages();
        _round = pages;
        _sending = Task.Run(async () =>
        {
            try
            {
                await SendPagesAsync(pages, _token).ConfigureAwait(false);
                return null;
            }
            catch (ChannelClosedException e)
            {
                return e;
            }
            finally
            {
                _wake?.Set();
            }
        }, _token);
    }

    /// <summary>With the guest stood still: the pages written since the last round, then the rest of the state. Returns the figures.</summary>
    public async Task<JoinFigures> StopAndCopyAsync(PrimaryNode node, CancellationToken cancellationToken)
    {
        if (!_sending.IsCompleted) throw new InvalidOperationException("the pre-copy is still sending");
        var pause = Stopwatch.StartNew();
        var last = WrittenPages(_machine);
        await SendPagesAsync(last, cancellationToken).ConfigureAwait(false);
        int lastRound = last.Count;
        var hashing = Stopwatch.StartNew();
        var final = node.AttachBackup((uint)Rounds);
        var hashTime = hashing.Elapsed;
        Attached = true;
        try
        {
            foreach (var (kind, piece) in FinalPieces(final))
                await Channel.SendStateAsync(kind, piece, cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            // Attached all the same: the channel's end is a lost backup, for the host to contend over.
        }
        return new JoinFigures(_clock.Elapsed, pause.Elapsed, hashTime, Rounds, PagesCopied, lastRound, final.Position);
    }

    private async Task SendPagesAsync(List<int> pages, CancellationToken cancellationToken)
    {
        foreach (var (body, n) in PageBodies(_machine, pages))
        {
            Interlocked.Add(ref _pagesCopied, n);
            await Channel.SendStateAsync(JoinState.PagesKind, body, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary><paramref name="pages"/> of the machine's RAM as it holds them now, as Pages bodies (with the pages in each), in order.</summary>
    internal static IEnumerable<(byte[] Body, int Pages)> PageBodies(PcMachine machine, List<int> pages)
    {
        for (int at = 0; at < pages.Count; at += JoinState.PagesPerFrame)
        {
            int n = Math.Min(JoinState.PagesPerFrame, pages.Count - at);
            var body = JoinState.EncodePages(machine.Memory.Ram, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(pages).Slice(at, n));
            yield return (body, n);
        }
    }

    /// <summary>The final state as the State frames' kinds and bodies: pieces of it, the last one final.</summary>
    internal static IEnumerable<(ulong Kind, ReadOnlyMemory<byte> Body)> FinalPieces(JoinFinal final)
    {
        var bytes = JoinState.EncodeFinal(final);
        for (int at = 0; at < bytes.Length; at += JoinState.FinalPieceBytes)
        {
            int n = Math.Min(JoinState.FinalPieceBytes, bytes.Length - at);
            yield return (at + n == bytes.Length ? JoinState.FinalKind : JoinState.FinalPartKind, bytes.AsMemory(at, n));
        }
    }

    /// <summary>The pages the guest wrote since written-page tracking last started (<see cref="PcMachine.RestartWrittenPages"/>).</summary>
    internal static List<int> WrittenPages(PcMachine machine)
    {
        var memory = machine.Memory;
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
