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
        var clock = Stopwatch.StartNew();
        var pages = new byte[]?[machine.Memory.Ram.Length / MachineSnapshot.PageSize];
        var final = new MemoryStream();
        long copied = 0;
        await foreach (var segment in channel.ReceivedState.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            switch (segment.Kind)
            {
                case JoinState.PagesKind:
                    copied += JoinState.DecodePages(segment.Bytes.Span, pages);
                    break;
                case JoinState.FinalPartKind:
                    final.Write(segment.Bytes.Span);
                    break;
                case JoinState.FinalKind:
                    final.Write(segment.Bytes.Span);
                    var state = JoinState.DecodeFinal(final.ToArray());
                    Restore(machine, state, pages);
                    return new JoinedState(state, copied, clock.Elapsed);
                default:
                    throw new InvalidDataException($"join state: unknown kind {segment.Kind}");
            }
        }
        return null;
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
