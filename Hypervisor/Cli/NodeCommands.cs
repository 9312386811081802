using System.CommandLine;
using System.Text;
using VmFt.Channel;
using VmFt.Channel.Transport;
using VmFt.Hypervisor.FaultTolerance.Arbitration;
using VmFt.Hypervisor.FaultTolerance.Primary;
using VmFt.Hypervisor.FaultTolerance.Processes;
using VmFt.Hypervisor.Live;
using VmFt.ReplayLog;

namespace VmFt.Hypervisor.Cli;

/// <summary>
/// <c>vmft primary</c> and <c>vmft backup</c>: the two FT nodes as processes. Status lines go to
/// stdout, warnings and errors to stderr (<see cref="CliLogging"/>); exit 0 when the guest exited or on Ctrl-C, 1 when the logging channel was refused or
/// broken, 2 for bad input, 3 when the node lost the arbiter and halted.
/// </summary>
public static class NodeCommands
{
    private sealed class Shared
    {
        public MachineOptions Machine { get; } = new() { AllowsNonSharedDisk = true };
        public Option<string> RelayPort { get; } = new("--relay-port") { Description = "[HOST:]PORT where the relay connects to this node (0: any free port)", Required = true };
        public Option<string> Arbiter { get; } = new("--arbiter") { Description = "the arbiter both nodes ask: a directory they share (a file arbiter), or etcd://HOST:PORT[,HOST:PORT...] (an etcd cluster)", Required = true };
        public Option<string> Secret { get; } = new("--secret") { Description = "shared secret of the logging channel", DefaultValueFactory = _ => "vmft" };
        public Option<string> VmId { get; } = new("--vm-id") { Description = "the VM's name (both nodes and the arbiter must agree)", DefaultValueFactory = _ => "vm" };
        public Option<string?> NodeId { get; } = new("--node-id") { Description = "this node's name at the relay (default: primary / backup)" };
        public Option<int> HeartbeatMs { get; } = new("--heartbeat-ms") { Description = "heartbeat interval", DefaultValueFactory = _ => 100 };
        public Option<int> TimeoutMs { get; } = new("--timeout-ms") { Description = "silence after which the peer is declared dead", DefaultValueFactory = _ => 500 };
        public Option<string> SendWindow { get; } = new("--send-window") { Description = "log bytes the primary may have unacknowledged before it stalls (back-pressure), e.g. 8M", DefaultValueFactory = _ => "8M" };

        public void AddTo(Command c)
        {
            Machine.AddTo(c, resumable: true, network: true); // the card only: the relay owns the TAP
            foreach (var o in new Option[] { RelayPort, Arbiter, Secret, VmId, NodeId, HeartbeatMs, TimeoutMs, SendWindow }) c.Options.Add(o);
        }

        public bool NonSharedDisk(ParseResult p) => Machine.DiskOf(p)?.NonShared == true;

        private const ulong NonSharedDiskMark = 0x6E6F_6E73_6861_7264; // "nonshard"

        /// <summary>The channel's options; the machine, just loaded, names what this node started from.</summary>
        public LogChannelOptions ChannelOptions(ParseResult p, ChannelRole role, Guest.Machine.PcMachine machine)
        {
            int hb = p.GetValue(HeartbeatMs), to = p.GetValue(TimeoutMs);
            if (hb <= 0 || to <= hb) throw new UsageException($"--heartbeat-ms {hb} / --timeout-ms {to}: both positive, the timeout longer than the heartbeat");
            string secret = p.GetValue(Secret)!;
            if (secret.Length == 0) throw new UsageException("--secret: must not be empty");
            ulong window = SizeParser.Parse(p.GetValue(SendWindow)!, "--send-window");
            if (window < 4096 || window > (1UL << 40)) throw new UsageException($"--send-window {p.GetValue(SendWindow)}: between 4K and 1024G");
            return new LogChannelOptions
            {
                VmId = NodeProcess.VmGuid(p.GetValue(VmId)!),
                LocalRole = role,
                // The disk mode is part of what the pair must agree on: a primary that writes at once
                // beside a backup that expects to share its disk would lose writes at a failover.
                Machine = machine.StateHash() ^ (NonSharedDisk(p) ? NonSharedDiskMark : 0),
                SharedSecret = Encoding.UTF8.GetBytes(secret),
                HeartbeatInterval = TimeSpan.FromMilliseconds(hb),
                PeerTimeout = TimeSpan.FromMilliseconds(to),
                SendWindowBytes = (long)window,
            };
        }
    }


    public static Command CreatePrimary()
    {
        var shared = new Shared();
        var backup = new Option<string?>("--backup") { Description = "HOST:PORT of the backup's logging channel (without it the primary starts alone; give --listen for a backup to join)" };
        var listen = new Option<string?>("--listen") { Description = "HOST:PORT where backups join this primary while it has none (vmft backup --join)" };
        var statsMs = new Option<int>("--stats-ms") { Description = "print an 'ft stats:' line (log bytes, backup lag, output hold so far) this often; 0: never", DefaultValueFactory = _ => 0 };
        var checkpoints = new Option<ulong>("--checkpoint-interval")
        {
            Description = "instructions between state-hash checkpoints in the log (the backup checks each one)",
            DefaultValueFactory = _ => PrimaryNode.DefaultCheckpointInterval,
        };
        var maxLead = new Option<ulong>("--max-lead-instructions")
        {
            Description = "how far the guest may run beyond the log the backup has not acknowledged, in instructions, before it waits (a slow backup slows the primary); 0: no bound",
            DefaultValueFactory = _ => PrimaryHost.DefaultMaxLeadInstructions,
        };
        var command = new Command("primary", "Run the primary FT node: the live guest, its log shipped to the backup, output held until acknowledged") { backup, listen, statsMs, checkpoints, maxLead };
        shared.AddTo(command);
        command.SetAction(parse => CliErrors.Guard("primary", () =>
        {
            ulong checkpointInterval = parse.GetValue(checkpoints);
            if (checkpointInterval == 0) throw new UsageException("--checkpoint-interval: must be at least 1");
            if (parse.GetValue(backup) is null && parse.GetValue(listen) is null)
                throw new UsageException("--backup or --listen: a primary needs a backup to connect to, or a port where one joins it");
            var backupEnd = parse.GetValue(backup) is { } b ? EndPointParser.Parse(b, "--backup") : null;
            var listenEnd = parse.GetValue(listen) is { } l ? EndPointParser.Parse(l, "--listen") : null;
            int every = parse.GetValue(statsMs);
            if (every < 0) throw new UsageException($"--stats-ms {every}: must not be negative");
            var (machine, relayListener, arbiterSpec, vmId, disk) = Common(parse, shared);
            using var diskFile = disk;
            string id = parse.GetValue(shared.NodeId) ?? "primary";
            var options = shared.ChannelOptions(parse, ChannelRole.Primary, machine);
            var joinListener = listenEnd is null ? null : Listen(listenEnd, "--listen", relayListener);
            using var cts = StopOnCtrlC();
            using var logging = CliLogging.Create(parse, statusOnStdout: true);
            using var arbiter = arbiterSpec.Create(logging, cts.Token);
            var interval = every > 0 ? TimeSpan.FromMilliseconds(every) : (TimeSpan?)null;
            return (int)PrimaryProcess.RunAsync(machine, id, backupEnd, options, relayListener, arbiter.Arbiter, vmId, interval, checkpointInterval, logging, cts.Token, disk, joinListener,
                diskShared: !shared.NonSharedDisk(parse), maxLeadInstructions: parse.GetValue(maxLead)).GetAwaiter().GetResult();
        }));
        return command;
    }

    public static Command CreateBackup()
    {
        var shared = new Shared();
        var listen = new Option<string>("--listen") { Description = "HOST:PORT where the primary's logging channel connects (and, once this node is live, where backups join it)", Required = true };
        var join = new Option<string?>("--join") { Description = "HOST:PORT where a running primary takes joining backups (its --listen): copy its machine live and become its backup" };
        var maxLag = new Option<ulong>("--max-lag-instructions")
        {
            Description = "how far the backup's replay may trail what it acknowledges, in instructions (bounds the replay a failover must do first)",
            DefaultValueFactory = _ => 50_000_000,
        };
        var maxLagMs = new Option<int>("--max-lag-ms")
        {
            Description = "the same bound in replay time at the speed the backup measures (a starved backup slows the primary rather than lengthening a failover); 0: the instruction bound alone",
            DefaultValueFactory = _ => 250,
        };
        var command = new Command("backup", "Run the backup FT node: replays the primary's log; takes over when the primary fails") { listen, join, maxLag, maxLagMs };
        shared.AddTo(command);
        command.SetAction(parse => CliErrors.Guard("backup", () =>
        {
            ulong lag = parse.GetValue(maxLag);
            if (lag < 100_000) throw new UsageException($"--max-lag-instructions {lag}: at least 100000 (one slice of the primary is 20000)");
            int lagMs = parse.GetValue(maxLagMs);
            if (lagMs < 0) throw new UsageException($"--max-lag-ms {lagMs}: a number of milliseconds, or 0 for none");
            var listenEnd = EndPointParser.Parse(parse.GetValue(listen)!, "--listen");
            var joinEnd = parse.GetValue(join) is { } j ? EndPointParser.Parse(j, "--join") : null;
            if (joinEnd is not null && shared.NonSharedDisk(parse)) throw new UsageException("--join with --disk FILE,nonshared: a joining backup copies the machine but not the disk; a backup of its own disk cannot join yet");
            var (machine, relayListener, arbiterSpec, vmId, disk) = Common(parse, shared);
            using var diskFile = disk;
            string id = parse.GetValue(shared.NodeId) ?? "backup";
            var options = shared.ChannelOptions(parse, ChannelRole.Backup, machine);
            var logListener = Listen(listenEnd, "--listen", relayListener);
            using var cts = StopOnCtrlC();
            using var logging = CliLogging.Create(parse, statusOnStdout: true);
            using var arbiter = arbiterSpec.Create(logging, cts.Token);
            return (int)BackupProcess.RunAsync(machine, id, logListener, options, relayListener, arbiter.Arbiter, vmId, lag, logging, cts.Token, disk, joinEnd,
                diskShared: !shared.NonSharedDisk(parse), maxLagTime: lagMs > 0 ? TimeSpan.FromMilliseconds(lagMs) : null).GetAwaiter().GetResult();
        }));
        return command;
    }

    /// <summary>The arbiter an <c>--arbiter</c> value names, made once the node's logging is set up.</summary>
    private sealed record ArbiterSpec(string? Directory, IReadOnlyList<string>? EtcdMembers)
    {
        public ArbiterHandle Create(Microsoft.Extensions.Logging.ILoggerFactory logging, CancellationToken stop) =>
            EtcdMembers is null ? new(new FileArbiter(Directory!))
            : new(new EtcdArbiter(EtcdMembers, logging.CreateLogger("VmFt.Arbiter"), stop));
    }

    private sealed record ArbiterHandle(IArbiter Arbiter) : IDisposable
    {
        public void Dispose() => (Arbiter as IDisposable)?.Dispose();
    }

    private static (Guest.Machine.PcMachine, TcpChannelListener, ArbiterSpec, string, Storage.RawDiskFile?) Common(ParseResult parse, Shared shared)
    {
        if (MachineOptions.ParseClock(parse.GetValue(shared.Machine.Clock)!) != ClockMode.Realtime)
            throw new UsageException("--clock: FT nodes run in realtime (the primary logs the host clock)");
        string vmId = parse.GetValue(shared.VmId)!;
        if (vmId.Length == 0 || vmId.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0)
            throw new UsageException($"--vm-id: '{vmId}' cannot name an arbiter file");
        var relayEnd = EndPointParser.Parse(parse.GetValue(shared.RelayPort)!, "--relay-port", portAlone: true);
        string dir = parse.GetValue(shared.Arbiter)!;
        ArbiterSpec spec;
        try
        {
            spec = EtcdArbiter.ParseAddress(dir) is { } members ? new ArbiterSpec(null, members) : new ArbiterSpec(dir, null);
        }
        catch (FormatException e)
        {
            throw new UsageException($"--arbiter {e.Message}");
        }
        var machine = shared.Machine.Build(parse, out var disk);
        if (spec.Directory is not null)
        {
            try
            {
                Directory.CreateDirectory(dir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"--arbiter {dir}: cannot create the directory: {e.Message}");
            }
        }
        try
        {
            return (machine, TcpChannelListener.Start(relayEnd), spec, vmId, disk);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            throw new UsageException($"--relay-port {relayEnd}: cannot listen: {e.Message}");
        }
    }

    private static TcpChannelListener Listen(System.Net.IPEndPoint at, string option, TcpChannelListener relayListener)
    {
        try
        {
            return TcpChannelListener.Start(at);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            relayListener.Dispose();
            throw new UsageException($"{option} {at}: cannot listen: {e.Message}");
        }
    }

    private static CancellationTokenSource StopOnCtrlC()
    {
        var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cts.Cancel();
        };
        return cts;
    }
}
