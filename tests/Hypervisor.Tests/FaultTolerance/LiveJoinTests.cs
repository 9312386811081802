using System.Text;
using VmFt.Channel;
using VmFt.Channel.Transport;
using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.FaultTolerance;
using VmFt.Hypervisor.FaultTolerance.Backup;
using VmFt.Hypervisor.FaultTolerance.Primary;
using VmFt.Hypervisor.FaultTolerance.Processes;
using Xunit;
using Xunit.Abstractions;

namespace VmFt.Hypervisor.Tests.FaultTolerance;

/// <summary>
/// The live copy itself, in one process over an in-memory channel: pages written while the copy
/// runs must come again, and the joined backup must replay the primary's log from the join on to
/// exactly the primary's state.
/// </summary>
public class LiveJoinTests(ITestOutputHelper log)
{
    private static PcMachine Boot(uint ram = 16 << 20)
    {
        var m = new PcMachine(new MachineConfiguration { RamSize = ram });
        m.LoadMultiboot(BundledImages.Get("cpubench"), "cpubench", new MultibootOptions());
        return m;
    }

    private static LogChannelOptions Options(ChannelRole role) => new()
    {
        VmId = NodeProcess.VmGuid("vm"),
        LocalRole = role,
        SharedSecret = Encoding.UTF8.GetBytes("s"),
        PeerTimeout = TimeSpan.FromSeconds(10),
    };

    [Fact]
    public async Task ACopyTakenWhileMemoryChangesGivesABackupThatReplaysToThePrimarysState()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var machine = Boot();
        var node = new PrimaryNode("p", 0, machine, new OutputStream(), 1, 0, checkpointInterval: 300_000);
        node.ContinueAlone(0);
        for (int i = 0; i < 20; i++) node.Step();
        node.TakeLog();

        var (a, b) = InMemoryDuplexPipe.CreatePair();
        var accepting = LogChannel.AcceptAsync(a, Options(ChannelRole.Primary), cancellationToken: cts.Token);
        await using var backupChannel = await LogChannel.ConnectAsync(b, Options(ChannelRole.Backup), cancellationToken: cts.Token);
        await using var primaryChannel = await accepting;
        var backupMachine = Boot();
        var receiving = BackupJoin.ReceiveAsync(backupChannel, backupMachine, cts.Token);

        // The guest runs between the pieces of the copy, and pages it never touches change too (as
        // a guest's DMA or a busy kernel would): between two looks at the copy more of them than
        // a stop-and-copy takes, so that however fast the copy goes it needs a second round.
        var join = new PrimaryJoin(primaryChannel, null, machine, token: cts.Token);
        var random = new Random(7);
        var written = new HashSet<int>();
        int calls = 0;
        do
        {
            calls++;
            for (int i = 0; i < 3; i++) Assert.True(node.Step());
            node.TakeLog();
            foreach (int page in Enumerable.Range(2048, 2048).OrderBy(_ => random.Next()).Take(PrimaryJoin.StopCopyPages + 100)) // 8-16 MiB: above the guest's own memory
            {
                written.Add(page);
                machine.Memory.Load((uint)page * 4096, BitConverter.GetBytes(random.NextInt64()));
            }
            await Task.Yield();
        }
        while (!join.PreCopyDone());
        var figures = await join.StopAndCopyAsync(node, cts.Token);
        log.WriteLine($"{figures}; {calls} pre-copy calls, {written.Count} pages written from outside");
        Assert.True(join.Attached);
        Assert.True(figures.Rounds >= 2, $"{figures.Rounds} rounds");
        Assert.True(figures.Pages > 4096, "the pages written meanwhile are copied again");

        // The copy is checked against the primary's state hash at the join before anything replays.
        var joined = await receiving.WaitAsync(cts.Token);
        Assert.NotNull(joined);
        Assert.Equal(machine.Cpu.Position, backupMachine.Cpu.Position);
        Assert.Equal(machine.StateHash(), backupMachine.StateHash());

        // The log from the join on: a checkpoint first, then the guest's own run, checkpoints included.
        var backup = new BackupNode("b", backupMachine, joined!.State);
        var first = node.TakeLog();
        Assert.IsType<VmFt.ReplayLog.Events.CheckpointEvent>(first[0]);
        Assert.Equal(joined.State.FirstSequence, first[0].Sequence);
        backup.OnLog(first);
        for (int i = 0; i < 60 && node.Step(); i++) backup.OnLog(node.TakeLog());
        backup.OnLog(node.TakeLog());
        backup.Step();
        Assert.Equal(node.LogEnd, backup.Replayed);
        Assert.Equal(machine.Cpu.Position, backupMachine.Cpu.Position);
        Assert.Equal(machine.StateHash(), backupMachine.StateHash());
    }

    [Fact]
    public async Task AJoinerWithLessRamIsToldWhichPageItCannotHold()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var machine = Boot();
        var node = new PrimaryNode("p", 0, machine, new OutputStream(), 1, 0);
        node.ContinueAlone(0);
        node.Step();
        var (a, b) = InMemoryDuplexPipe.CreatePair();
        var accepting = LogChannel.AcceptAsync(a, Options(ChannelRole.Primary), cancellationToken: cts.Token);
        await using var backupChannel = await LogChannel.ConnectAsync(b, Options(ChannelRole.Backup), cancellationToken: cts.Token);
        await using var primaryChannel = await accepting;
        var receiving = BackupJoin.ReceiveAsync(backupChannel, Boot(8 << 20), cts.Token);
        var join = new PrimaryJoin(primaryChannel, null, machine, token: cts.Token);
        var copying = Task.Run(async () =>
        {
            try
            {
                while (!join.PreCopyDone()) await Task.Delay(1);
            }
            catch (ChannelClosedException) { }
        });
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => receiving);
        Assert.Contains("page 2048 is beyond this machine's 2048 pages", e.Message);
        await backupChannel.CloseAsync(ChannelCloseCode.JoinFailed, e.Message);
        // The primary hears why; its node still runs alone.
        var closure = await primaryChannel.Completion.WaitAsync(cts.Token);
        Assert.Equal(ChannelCloseCode.JoinFailed, closure.Code);
        await copying.WaitAsync(cts.Token);
        Assert.True(node.Alone);
        Assert.False(join.Attached);
    }
}
