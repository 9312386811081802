using System.Diagnostics;
using VmFt.Channel;
using VmFt.Guest.Machine;

namespace VmFt.Hypervisor.FaultTolerance.Backup;

/// <summary>
/// The joining backup's side of a live copy (<see cref="Primary.PrimaryJoin"/>): takes the
/// primary's pages and final state off the channel and puts the machine in that state, checked
/// against the primary's state hash there before any log is replayed.
/// </summary>
public static class BackupJoin
{
    /// <summary>
    /// Receives the state into <paramref name="machine"/>. Null when the channel ended first (its
    /// completion says why: a refusal, or the primary gone).
    /// </summary>
    /// <exception cref="InvalidDataException">The state is malformed, incomplete, or does not fit this machine.</exception>
    public static async Task<JoinedState?> ReceiveAsync(LogChannel channel, PcMachine machine, CancellationToken cancellationToken)
    {
        var receiver = new Receiver(machine);
        await foreach (var segment in channel.ReceivedState.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            if (receiver.Take(segment.Kind, segment.Bytes.Span) is { } joined) return joined;
        return null;
    }

    /// <summary>
    /// The State frames' bodies as they come, in order, from any transport (the channel here, the
    /// simulator's byte streams there): the pages, then the final state, restored and checked.
    /// </summary>
    internal sealed class Receiver(PcMachine machine)
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly byte[]?[] _pages = new byte[]?[machine.Memory.Ram.Length / MachineSnapshot.PageSize];
        private readonly MemoryStream _final = new();
        private long _copied;

        /// <summary>Takes one State frame's body; the joined state once the final one came (the machine is then in it), else null.</summary>
        /// <exception cref="InvalidDataException">The state is malformed, incomplete, or does not fit this machine.</exception>
        public JoinedState? Take(ulong kind, ReadOnlySpan<byte> bytes)
        {
            switch (kind)
            {
                case JoinState.PagesKind:
                    _copied += JoinState.DecodePages(bytes, _pages);
                    return null;
                case JoinState.FinalPartKind:
                    _final.Write(bytes);
                    return null;
                case JoinState.FinalKind:
                    _final.Write(bytes);
                    var state = JoinState.DecodeFinal(_final.ToArray());
                    Restore(machine, state, _pages);
                    return new JoinedState(state, _copied, _clock.Elapsed);
                default:
                    throw new InvalidDataException($"join state: unknown kind {kind}");
            }
        }
    }

    private static void Restore(PcMachine machine, JoinFinal state, byte[]?[] pages)
    {
        int missing = Array.IndexOf(pages, null);
        if (missing >= 0) throw new InvalidDataException($"join state: page {missing} never came (the primary has less RAM: give the same --mem)");
        var snapshot = MachineSnapshot.FromParts(state.Position, state.CpuState, state.DeviceState, pages!, pages.Length);
        try
        {
            machine.CheckState(snapshot);
            machine.RestoreSnapshot(snapshot);
        }
        catch (MachineStateException e)
        {
            throw new InvalidDataException($"join state: {e.Message}", e);
        }
        ulong hash = machine.StateHash();
        if (hash != state.StateHash)
            throw new InvalidDataException($"join state: the copy's state hash is {hash:x16}, the primary's {state.StateHash:x16} at instruction {state.Position}");
    }
}

/// <summary>A completed join: the primary's state, the pages received (pre-copy rounds included) and how long it took here.</summary>
public sealed record JoinedState(JoinFinal State, long Pages, TimeSpan Elapsed);
