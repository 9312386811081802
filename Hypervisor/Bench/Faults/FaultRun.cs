using System.Diagnostics;
using System.Net.Sockets;
using VmFt.Guest.Images;
using VmFt.Hypervisor.Faults;
using VmFt.Hypervisor.FaultTolerance;
using VmFt.Hypervisor.FaultTolerance.Arbitration;
using VmFt.Hypervisor.FaultTolerance.Processes;
using VmFt.Hypervisor.Network;

namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>
/// One run: backup, primary and relay as real processes on loopback (<see cref="FtProcesses"/>),
/// the logging channel through a <see cref="ChannelProxy"/> (in every scenario, so the baseline
/// pays the same hop), the workload's client on the relay, the fault at a seeded random moment,
/// then the verdict against a failure-free run of the same input. The solo scenario runs the guest
/// alone instead, its serial console on TCP, for the figures FT is compared with.
/// </summary>
public sealed class FaultRun(FaultBenchOptions options, FaultScenario scenario, FaultWorkload workload, int seed, int index)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly ProcessInjector _injector = ProcessFaults.For(scenario);

    // What an injector (ProcessFaults) acts on, set up by ExecuteAsync.
    internal FaultBenchOptions Options => options;
    internal FaultScenario Scenario => scenario;
    internal FtProcesses Cluster { get; private set; } = null!;
    /// <summary>The proxy every run's logging channel goes through.</summary>
    internal ChannelProxy Proxy { get; private set; } = null!;
    /// <summary>The proxy on the relay's way to the primary, when the injector asks for one.</summary>
    internal ChannelProxy? RelayProxy { get; private set; }
    internal LoadGenerator Generator { get; private set; } = null!;
    /// <summary>The net workload's namespace (its TAP, vt0, is the relay's, or the solo guest's), made for the run.</summary>
    private NetworkNamespace? _namespace;
    /// <summary>The net workload's client and capture of the TAP.</summary>
    internal NetLoad? Net { get; private set; }
    private const string TapName = "vt0";
    private string NetSpec => $"tap,ifname={TapName},netns={_namespace!.Name}";
    internal FaultRunResult Result { get; private set; } = null!;
    /// <summary>The etcd cluster the nodes' arbiter is, when the scenario needs one.</summary>
    internal LocalEtcdCluster? Etcd { get; private set; }
    /// <summary>A throttle the injector started; stopped when the run ends.</summary>
    internal ProcessThrottle? Throttle { get; set; }

    /// <summary>When set, every child line and bench action, as it happens.</summary>
    public TextWriter? Verbose { get; init; }
    private readonly List<NodeLine> _lines = [];

    internal double Now() => _clock.Elapsed.TotalMilliseconds;

    /// <summary>A bench action, stamped like the children's lines (the timeline reads the fault's moment from these).</summary>
    internal void Mark(string what)
    {
        lock (_lines) _lines.Add(new NodeLine(Now(), NodeTimeline.Bench, what));
        Verbose?.WriteLine($"{Now(),9:F1} ms [bench] {what}");
    }

    /// <summary>Whether <paramref name="who"/> printed <paramref name="text"/>, after the bench's own line <paramref name="after"/> when given.</summary>
    internal bool Saw(string who, string text, string? after = null) => Find(who, text, after) is not null;

    /// <summary>The first line of <paramref name="who"/> holding <paramref name="text"/> (after the bench's own line <paramref name="after"/> when given), or null.</summary>
    internal string? Find(string who, string text, string? after = null)
    {
        lock (_lines)
        {
            int from = after is null ? 0 : _lines.FindLastIndex(l => l.Who == NodeTimeline.Bench && l.Text == after) + 1;
            int at = _lines.FindIndex(from, l => l.Who == who && l.Text.Contains(text, StringComparison.Ordinal));
            return at < 0 ? null : _lines[at].Text;
        }
    }

    internal async Task<bool> WaitFor(string who, string text, TimeSpan timeout, string? after = null)
    {
        var until = Now() + timeout.TotalMilliseconds;
        while (Now() < until)
        {
            if (Saw(who, text, after)) return true;
            await Task.Delay(2).ConfigureAwait(false);
        }
        return false;
    }

    /// <summary>Start-up is tried this often before the run is given up as not started (never as a failure of fault tolerance).</summary>
    public const int StartAttempts = 3;

    /// <param name="soloCpubenchSeconds">cpubench's run time alone (in-process), for the throughput ratio.</param>
    /// <param name="cpubenchReference">The failure-free cpubench transcript (normalized).</param>
    public async Task<FaultRunResult> ExecuteAsync(double soloCpubenchSeconds, string cpubenchReference)
    {
        var random = new Random(seed);
        var result = Result = new FaultRunResult { Index = index, Scenario = scenario, Workload = workload, Seed = seed, Rate = workload is FaultWorkload.Kvstore or FaultWorkload.Net ? options.RequestRate : 0 };
        result.Reproduce = FaultReport.ReproduceCommand(result, options);
        var trace = new ClientTrace();
        double loadStart = 0, loadEnd = 0;
        if (workload == FaultWorkload.Net)
        {
            // A namespace of the run's own with a persistent TAP, no address and IPv6 off: the only
            // frames on it are the client's and the guest's. The relay (or the guest alone) opens it there.
            _namespace = new NetworkNamespace("vmft-b-");
            _namespace.AddTap(TapName);
        }
        string[] machineArgs = workload switch
        {
            FaultWorkload.Cpubench => ["cpubench", "--cmdline", $"iterations={options.CpubenchIterations}"],
            FaultWorkload.Net => ["netecho", "--mem", "16M", "--net", NetSpec],
            _ => ["kvstore"],
        };
        string[] nodeArgs = ["--heartbeat-ms", options.HeartbeatMs.ToString(), "--timeout-ms", options.TimeoutMs.ToString()];
        // Ctrl-C or a termination signal must not leave the children running.
        // Nor the namespace behind.
        void Cleanup(object? sender, EventArgs e)
        {
            Cluster?.Dispose();
            _namespace?.Dispose();
        }
        void CancelCleanup(object? sender, ConsoleCancelEventArgs e) => Cleanup(sender, e);
        AppDomain.CurrentDomain.ProcessExit += Cleanup;
        Console.CancelKeyPress += CancelCleanup;
        IReadOnlyList<(string File, string Content)> arbiter = [];
        try
        {
            if (scenario.NeedsEtcd) Etcd = LocalEtcdCluster.Start();
            TcpClient? client = null;
            LoadGenerator? generator = null;
            int generatorSeed = random.Next(); // drawn once: a retried start-up keeps the seed's schedule
            for (int attempt = 1; generator is null; attempt++)
            {
                var cluster = Cluster = NewCluster();
                trace = new ClientTrace();
                try
                {
                    (client, generator) = await StartAsync(cluster, machineArgs, nodeArgs, trace, generatorSeed).ConfigureAwait(false);
                }
                catch (ClusterStartException e)
                {
                    // Not a fault the run injected: keep what every child said, start afresh, and
                    // never judge fault tolerance on it.
                    Mark($"start-up attempt {attempt} failed: {e.Message}");
                    result.Notes.Add($"start-up attempt {attempt} of {StartAttempts} failed: {e.Message}");
                    client?.Dispose();
                    client = null;
                    StopCluster();
                    result.EvidencePaths.Add(RunEvidence.Write(options.OutDirectory, result, $"start-{attempt}", cluster, Lines(), Proxy, RelayProxy,
                        [], null, null, []));
                    lock (_lines) _lines.Clear(); // the next attempt's timeline starts clean
                    if (attempt == StartAttempts)
                    {
                        result.StartupFailure = e.Message;
                        return result;
                    }
                }
                catch (WarmUpException e)
                {
                    // The pair is intact and does not answer: a failure of the service itself.
                    Mark("end");
                    result.Violations.Add(e.Message);
                    arbiter = Cluster.ArbiterState();
                    client?.Dispose();
                    StopCluster();
                    result.EvidencePaths.Add(RunEvidence.Write(options.OutDirectory, result, "failed", Cluster, Lines(), Proxy, RelayProxy, arbiter,
                        trace.Transcript.ToString(), null, trace.SentLines));
                    return result;
                }
            }
            using var _client = client;

            // Faults that last the whole run start with the load.
            Mark("load");
            loadStart = Now();
            var cpuAtLoad = NodeCpu();
            _injector.AtLoadStart?.Invoke(this);

            // cpubench runs to its end; its expected length (alone, with some FT overhead) places the fault.
            var span = workload == FaultWorkload.Cpubench ? TimeSpan.FromSeconds(Math.Max(0.5, soloCpubenchSeconds * 1.5)) : options.Duration;
            var faultAt = span * (0.25 + 0.5 * random.NextDouble());
            using var cts = new CancellationTokenSource();
            var fault = InjectAsync(faultAt);
            var load = workload == FaultWorkload.Cpubench ? WaitForCpubenchAsync(generator, trace, cts.Token)
                : workload == FaultWorkload.Net ? Net!.RunLoadAsync(options.Duration, cts.Token)
                : scenario.RepairCycles > 0 ? LoadAcrossRepairsAsync(generator, fault)
                : generator.RunLoadAsync(options.Duration, cts.Token);
            await Task.WhenAll(load, fault).ConfigureAwait(false);
            loadEnd = Now();
            var cpuAtEnd = NodeCpu();
            result.PrimaryCpuLoad = ProcessCpu.Percent(cpuAtLoad.Primary, cpuAtEnd.Primary, loadEnd - loadStart);
            result.BackupCpuLoad = ProcessCpu.Percent(cpuAtLoad.Backup, cpuAtEnd.Backup, loadEnd - loadStart);

            bool continues = scenario.ServiceContinues;
            if (workload == FaultWorkload.Kvstore)
            {
                // Every request the open loop scheduled goes out and gets its reply (retrying);
                // when the service is meant to stop, a short wait shows that nothing more comes.
                bool all = continues
                    ? await generator.DrainAsync(DrainQuiet, CancellationToken.None, DrainCeiling).ConfigureAwait(false)
                    : await generator.DrainAsync(TimeSpan.FromSeconds(2), CancellationToken.None).ConfigureAwait(false);
                if (!all && !continues) result.Notes.Add("service stopped: requests left unanswered, as expected");
            }
            else if (workload == FaultWorkload.Net)
            {
                // Every frame sent gets its answer on the TAP (no retries: the relay keeps what no node took).
                bool all = continues ? await Net!.DrainAsync(DrainQuiet, DrainCeiling).ConfigureAwait(false)
                    : await Net!.DrainAsync(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(2)).ConfigureAwait(false);
                if (!all && !continues) result.Notes.Add("service stopped: frames left unanswered, as expected");
            }
            // Late status lines (summaries, halts) and late output; meanwhile nothing is asked of the
            // nodes, which is the idle CPU figure.
            var idleFrom = NodeCpu();
            double idleStart = Now();
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Max(300, options.IdleCpu.TotalMilliseconds))).ConfigureAwait(false);
            if (options.IdleCpu > TimeSpan.Zero)
            {
                var idleTo = NodeCpu();
                result.PrimaryCpuIdle = ProcessCpu.Percent(idleFrom.Primary, idleTo.Primary, Now() - idleStart);
                result.BackupCpuIdle = ProcessCpu.Percent(idleFrom.Backup, idleTo.Backup, Now() - idleStart);
            }
            Mark("end");
            arbiter = Cluster.ArbiterState();
            client!.Close();
        }
        finally
        {
            StopCluster();
            if (Etcd is not null) arbiter = [.. arbiter, ("etcd.log", Etcd.Logs())];
            _capture = Net?.Snapshot();
            Net?.Dispose();
            _namespace?.Dispose();
            Etcd?.Dispose();
            AppDomain.CurrentDomain.ProcessExit -= Cleanup;
            Console.CancelKeyPress -= CancelCleanup;
            result.WallSeconds = _clock.Elapsed.TotalSeconds;
        }
        string expected = Judge(result, trace, loadStart, loadEnd, soloCpubenchSeconds, cpubenchReference);
        if (!result.Passed)
            result.EvidencePaths.Add(RunEvidence.Write(options.OutDirectory, result, "failed", Cluster, Lines(), Proxy, RelayProxy, arbiter,
                trace.Transcript.ToString(), expected, trace.SentLines));
        return result;
    }

    /// <summary>The net workload's capture as the run ended.</summary>
    private NetCapture? _capture;

    /// <summary>
    /// One start-up attempt: the cluster (or the guest alone), the client on it and, for kvstore, the
    /// warm-up. Throws <see cref="ClusterStartException"/> when a child did not start, or when the
    /// pair failed over before any fault was injected (a node of a freshly started pair on a loaded
    /// machine can miss its heartbeats): a run must begin with a healthy pair.
    /// </summary>
    private async Task<(TcpClient, LoadGenerator)> StartAsync(FtProcesses cluster, string[] machineArgs, string[] nodeArgs, ClientTrace trace, int generatorSeed)
    {
        string address = _injector.Solo
            ? await cluster.StartSoloAsync(machineArgs, StartTimeout).ConfigureAwait(false)
            : await cluster.StartAsync(machineArgs, nodeArgs, StartTimeout, untilServing: true).ConfigureAwait(false);
        var client = new TcpClient { NoDelay = true };
        client.Connect(System.Net.IPEndPoint.Parse(address));
        double rate = workload == FaultWorkload.Kvstore ? options.RequestRate : 0;
        var generator = Generator = new LoadGenerator(client.GetStream(), trace, Now, options.Clients, rate, options.RetryTimeout, generatorSeed);
        var reader = new Thread(generator.ReadAll) { IsBackground = true, Name = "fault-bench client" };
        reader.Start();
        if (workload == FaultWorkload.Kvstore && options.Warmup > TimeSpan.Zero)
        {
            Mark("warm-up");
            // A loaded machine answers slowly but keeps answering: the warm-up waits while replies come.
            bool answered = await generator.WarmUpAsync(options.Warmup, DrainQuiet, DrainCeiling, CancellationToken.None).ConfigureAwait(false);
            if (FailedOverEarly() is { } early) throw new ClusterStartException($"the pair failed over before any fault: {early}");
            if (!answered) throw new WarmUpException($"the warm-up requests went {DrainQuiet.TotalSeconds:F0} s without a reply (or were not all answered within {DrainCeiling.TotalSeconds:F0} s)");
        }
        else if (FailedOverEarly() is { } early)
        {
            throw new ClusterStartException($"the pair failed over before any fault: {early}");
        }
        if (workload == FaultWorkload.Net)
        {
            // The banner says the guest's receive buffers are posted; frames sent before would wait anyway, but the load starts on a ready guest.
            var until = Now() + StartTimeout.TotalMilliseconds;
            while (!generator.Snapshot().Contains("netecho ready\n", StringComparison.Ordinal))
            {
                if (Now() > until) throw new ClusterStartException($"the guest did not print its banner within {StartTimeout.TotalSeconds:F0} s");
                await Task.Delay(5).ConfigureAwait(false);
            }
            Net?.Dispose();
            Net = NetLoad.Open(_namespace!.Name, TapName, Now, options.RequestRate, generatorSeed);
            if (options.Warmup > TimeSpan.Zero)
            {
                // As kvstore's: the first frames run the nodes' receive and transmit paths cold; that is start-up, not FT, and stays out of the latency figures.
                Mark("warm-up");
                await Net.RunLoadAsync(options.Warmup, CancellationToken.None).ConfigureAwait(false);
                bool answered = await Net.DrainAsync(DrainQuiet, DrainCeiling).ConfigureAwait(false);
                if (FailedOverEarly() is { } early) throw new ClusterStartException($"the pair failed over before any fault: {early}");
                if (!answered) throw new WarmUpException($"the warm-up frames went {DrainQuiet.TotalSeconds:F0} s without an answer (or were not all answered within {DrainCeiling.TotalSeconds:F0} s)");
                Net.WarmupFrames = Net.Sent;
            }
        }
        return (client, generator);
    }

    /// <summary>A node's line saying it lost its peer, if one came before the bench injected anything.</summary>
    private string? FailedOverEarly()
    {
        lock (_lines)
            return _lines.FirstOrDefault(l => l.Who is "primary" or "backup" && (l.Text.Contains(": backup lost:", StringComparison.Ordinal) || l.Text.Contains(": primary lost:", StringComparison.Ordinal)))
                is { } lost ? $"{lost.Who}: \"{lost.Text}\"" : null;
    }

    /// <summary>CPU seconds so far of the primary (the guest alone in a solo run) and the backup; null for one that is gone.</summary>
    private (double? Primary, double? Backup) NodeCpu() =>
        (Cluster.Primary is { HasExited: false } p ? ProcessCpu.Seconds(p.Id) : null, Cluster.Backup is { HasExited: false } b ? ProcessCpu.Seconds(b.Id) : null);

    /// <summary>The warm-up went unanswered with the pair intact: a failure of the service itself.</summary>
    private sealed class WarmUpException(string message) : Exception(message);

    /// <summary>
    /// A drain ends once every request has its reply, when no reply came for this long (the
    /// service stopped), or at the ceiling (a service that answers, however slowly, gets that long).
    /// </summary>
    private static readonly TimeSpan DrainQuiet = TimeSpan.FromSeconds(15), DrainCeiling = TimeSpan.FromSeconds(60);

    /// <summary>How long each step of the start-up may take (a loaded machine starts .NET processes slowly).</summary>
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private FtProcesses NewCluster()
    {
        Proxy = null!;
        RelayProxy = null;
        return new FtProcesses
        {
            Clock = Now,
            Line = l =>
            {
                lock (_lines) _lines.Add(new NodeLine(l.Ms, l.Child, l.Text));
                Verbose?.WriteLine($"{l.Ms,9:F1} ms [{l.Child}] {l.Text}");
            },
            LogRoute = backup => (Proxy = ChannelProxy.Start(backup, Now)).LocalEndPoint,
            PrimaryRelayRoute = _injector.ProxiesRelayLink ? node => (RelayProxy = ChannelProxy.Start(node, Now)).LocalEndPoint : null,
            PrimaryArgs = ["--stats-ms", "100", .. _injector.PrimaryArgs],
            RelayArgs = workload == FaultWorkload.Net ? ["--net", NetSpec] : [],
            // The repair scenarios' new backups: what vmft ft --respawn starts after every failover.
            Respawn = scenario.RepairCycles > 0,
            Arbiter = Etcd?.ArbiterAddress,
        };
    }

    /// <summary>
    /// Ends the children and the proxies. Called after a failed start-up attempt and again when the
    /// run ends (after a last failed attempt, on the same ones), so each part may be stopped twice.
    /// </summary>
    private void StopCluster()
    {
        Throttle?.Dispose();
        Throttle = null;
        Cluster?.Dispose();
        Proxy?.Dispose();
        RelayProxy?.Dispose();
    }

    private List<NodeLine> Lines()
    {
        lock (_lines) return [.. _lines];
    }

    private async Task WaitForCpubenchAsync(LoadGenerator generator, ClientTrace trace, CancellationToken token)
    {
        var until = Now() + 120_000;
        while (!token.IsCancellationRequested && Now() < until)
        {
            string t = generator.Snapshot();
            if (t.Contains("cpubench OK\n") || t.Contains("cpubench FAIL\n") || t.Contains("cpubench UNCHECKED\n")) return;
            await Task.Delay(5, token).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A repair run's load: at least the run's duration, and on while the kills and joins go on
    /// (however long a loaded machine takes), then a while more, served by the last pair.
    /// </summary>
    private async Task LoadAcrossRepairsAsync(LoadGenerator generator, Task fault)
    {
        await generator.RunLoadAsync(options.Duration, CancellationToken.None).ConfigureAwait(false);
        var slice = TimeSpan.FromMilliseconds(100);
        // The open loop is memoryless, so slices of it are the same load; the delay keeps a client whose relay is gone from spinning.
        while (!fault.IsCompleted)
            await Task.WhenAll(generator.RunLoadAsync(slice, CancellationToken.None), Task.Delay(slice)).ConfigureAwait(false);
        await generator.RunLoadAsync(RepairTail, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>A repair run's load after its last join.</summary>
    private static readonly TimeSpan RepairTail = TimeSpan.FromSeconds(1);

    private async Task InjectAsync(TimeSpan at)
    {
        await Task.Delay(at).ConfigureAwait(false);
        if (_injector.Strike is { } strike) await strike(this).ConfigureAwait(false);
    }

    /// <summary>SIGKILLs <paramref name="process"/> (marked <paramref name="what"/>).</summary>
    internal Task KillAsync(ChildProcess process, string what)
    {
        Mark(what);
        process.Kill(); // SIGKILL: no goodbye, no flush (a guest that already exited is left alone)
        return Task.CompletedTask;
    }

    /// <summary>Marks <paramref name="what"/> and does it.</summary>
    internal Task Act(string what, Action action)
    {
        Mark(what);
        action();
        return Task.CompletedTask;
    }

    /// <summary>
    /// Every failover and every join of a repair run: for each kill, the node that went live next,
    /// its detection, the relay's switch to it and the client's gap there; for each join, the live
    /// node's figures and the time since the kill before it.
    /// </summary>
    private static void RepairFigures(FaultRunResult result, NodeTimeline timeline, ClientTrace trace)
    {
        foreach (var (killMs, _) in timeline.Kills)
        {
            var live = timeline.WentLive.FirstOrDefault(w => w.Ms > killMs);
            if (live.Node is null) continue; // the cycle's violation says so
            var lost = timeline.PrimaryLosses.FirstOrDefault(x => x.Node == live.Node && x.Ms > killMs);
            double? lostMs = lost.Node is null ? null : lost.Ms;
            var sw = timeline.Switches.FirstOrDefault(x => x.Node == live.Node && x.Generation == live.Generation);
            double? gap = null, firstNew = null;
            if (sw.Node is not null && sw.Offset > 0)
            {
                var a = trace.ReceivedAt(sw.Offset - 1);
                firstNew = trace.ReceivedAt(sw.Offset);
                if (a is { } x && firstNew is { } y) gap = y - x;
            }
            result.Failovers.Add(new FailoverSample(live.Node, live.Generation, gap, lostMs - killMs, (firstNew ?? live.Ms) - lostMs));
        }
        foreach (var j in timeline.Joins)
        {
            var kill = timeline.Kills.LastOrDefault(k => k.Ms < j.Ms);
            // Redundancy is back when the joiner has its copy (its own line), which comes after the live node's.
            var replica = timeline.Replicas.FirstOrDefault(x => x.Generation == j.Generation && x.Ms > kill.Ms);
            double? restored = kill.Node is null || replica.Node is null ? null : replica.Ms - kill.Ms;
            result.Joins.Add(new JoinSample(j.Node, j.Generation, j.JoinMs, j.PauseMs, restored));
        }
        if (result.Joins.Count > 0)
            result.Notes.Add($"{result.Joins.Count} backups joined: join {result.Joins.Min(j => j.JoinMs):F0}-{result.Joins.Max(j => j.JoinMs):F0} ms, " +
                $"stop-and-copy pause {result.Joins.Min(j => j.PauseMs):F1}-{result.Joins.Max(j => j.PauseMs):F1} ms");
    }

    /// <summary>The net workload's verdict on its capture, and its figures: latency from the tick that sent a frame to its answer on the TAP, served/offered, the client's gap at a kill.</summary>
    private void NetFigures(FaultRunResult result, NetCapture capture, bool continues, double loadStart, double loadEnd, NodeTimeline timeline)
    {
        result.Violations.AddRange(NetVerdict.Check(capture, continues));
        int strays = capture.ToGuest.Count(s => s < 0);
        if (strays > 0) result.Notes.Add($"{strays} frames the namespace's kernel sent went to the guest too (counted in the verdict)");
        var first = new Dictionary<int, double>();
        foreach (var a in capture.Answers) first.TryAdd(a.Seq, a.Ms);
        int sent = capture.SentMs.Count;
        for (int s = Net?.WarmupFrames ?? 0; s < sent; s++)
            if (first.TryGetValue(s, out double at)) result.Latencies.Add(at - capture.SentMs[s]);
        result.Requests = sent - (Net?.WarmupFrames ?? 0);
        result.OutputBytes = capture.Answers.Count * (long)NetechoFrames.Length;
        // Open loop: the frames sent early enough to be answered within the load window, and how many were.
        double last = loadEnd - options.RetryTimeout.TotalMilliseconds;
        var window = Enumerable.Range(0, sent).Where(s => capture.SentMs[s] >= loadStart && capture.SentMs[s] <= last).ToList();
        if (window.Count > 0) result.ThroughputRatio = window.Count(s => first.TryGetValue(s, out double t) && t <= loadEnd) / (double)window.Count;
        if (timeline.PrimaryKilledMs is { } kill)
        {
            double? before = null, after = null;
            foreach (var a in capture.Answers)
            {
                if (a.Ms <= kill) before = a.Ms;
                else
                {
                    after = a.Ms;
                    break;
                }
            }
            if (before is { } b && after is { } f) result.FailoverMs = f - b;
        }
        if (timeline.Samples.Count > 0)
        {
            var from = timeline.Samples.LastOrDefault(x => x.Ms <= loadStart);
            var to = timeline.Samples.LastOrDefault(x => x.Ms <= loadEnd);
            if (from is not null && to is not null && to.Ms > from.Ms)
            {
                int arrived = capture.SentMs.Count(ms => ms > from.Ms && ms <= to.Ms);
                if (arrived > 0) result.LogBytesPerRequest = (to.LogBytes - from.LogBytes) / (double)arrived;
            }
        }
    }

    /// <summary>The verdict and figures; returns the transcript the client should have had.</summary>
    private string Judge(FaultRunResult result, ClientTrace trace, double loadStart, double loadEnd, double soloCpubenchSeconds, string cpubenchReference)
    {
        List<NodeLine> lines;
        // Only what happened before the bench ended the run: stopping the processes makes them report losses too.
        lock (_lines)
        {
            int end = _lines.FindIndex(l => l.Who == NodeTimeline.Bench && l.Text == "end");
            lines = end < 0 ? [.. _lines] : _lines.GetRange(0, end + 1);
        }
        var timeline = NodeTimeline.Read(lines, lines.Count > 0 ? lines[^1].Ms : Now());
        string got = trace.Transcript.ToString();
        string reference;
        if (workload == FaultWorkload.Cpubench)
        {
            reference = cpubenchReference;
            got = VerdictChecker.Normalize(got);
        }
        else if (workload == FaultWorkload.Net)
        {
            // The serial line carries the banner alone, once; the frames are judged on the capture below.
            reference = "netecho ready\n";
        }
        else
        {
            // The failure-free run of exactly the input the client sent: a banner, then one reply per line sent.
            reference = SoloTranscript.Run(BundledImages.Get("kvstore"), "kvstore", 64 << 20, trace.SentLines, trace.SentLines.Count + 1, maxSteps: 2_000_000);
        }
        bool continues = scenario.ServiceContinues;
        result.Violations.AddRange(VerdictChecker.Check(reference, got, continues, trace.SentLines, timeline.Live, timeline.ArbiterWinners));
        if (workload == FaultWorkload.Net)
        {
            if (_capture is null) result.Violations.Add("the net workload's capture of the TAP never started");
            else NetFigures(result, _capture, continues, loadStart, loadEnd, timeline);
        }

        // Who carried on: the partition must leave exactly one node serving.
        if (timeline.BackupLiveMs is not null) result.Notes.Add("the backup went live");
        if (timeline.PrimaryAloneMs is not null) result.Notes.Add("the primary continued alone");
        if (scenario.Takeover == Takeover.ExactlyOneCarriesOn && (timeline.BackupLiveMs is null) == (timeline.PrimaryAloneMs is null))
            result.Violations.Add($"{scenario.Name}: expected exactly one node to carry on");
        if (scenario.Takeover == Takeover.Nobody && (timeline.BackupLiveMs is not null || timeline.PrimaryAloneMs is not null))
            result.Violations.Add($"{scenario.Name}: nobody should have failed over, yet {(timeline.BackupLiveMs is not null ? "the backup went live" : "the primary went on alone")}");
        if (continues && scenario.Takeover == Takeover.BackupGoesLive && timeline.BackupLiveMs is null && !got.Contains("cpubench OK"))
            result.Violations.Add("the backup never went live after the primary was killed");

        // Failover, client side: the relay says how many bytes the client had at the switch.
        double? faultMs = timeline.FaultMs;
        if (timeline.SwitchOffset is { } n && n > 0)
        {
            var lastOld = trace.ReceivedAt(n - 1);
            var firstNew = trace.ReceivedAt(n);
            // Only a client that is always waiting for replies measures the gap; cpubench prints at its start and end.
            if (lastOld is { } a && firstNew is { } b && workload == FaultWorkload.Kvstore) result.FailoverMs = b - a;
            result.DetectionMs = timeline.PrimaryLostMs - (timeline.PrimaryKilledMs ?? faultMs);
            result.DrainMs = (firstNew ?? timeline.BackupLiveMs) - timeline.PrimaryLostMs;
        }
        else if (timeline.BackupLiveMs is { } live)
        {
            result.DetectionMs = timeline.PrimaryLostMs - (timeline.PrimaryKilledMs ?? faultMs);
            result.DrainMs = live - timeline.PrimaryLostMs;
        }
        else if (timeline.PrimaryAloneMs is { } alone)
        {
            // The primary carries on: the client's gap spans the detection and the arbiter. The
            // status line saying so can reach the bench after the output it released, so the gap
            // is the longest silence between the fault and shortly after that line.
            double? before = null, after = null;
            double from = faultMs ?? timeline.BackupLostMs ?? alone, until = alone + 500;
            double? previous = null;
            foreach (var c in trace.Chunks)
            {
                if (c.Ms > until) break;
                if (previous is { } p && c.Ms >= from && (after is null || c.Ms - p > after - before))
                {
                    before = p;
                    after = c.Ms;
                }
                previous = c.Ms;
            }
            if (before is { } a && after is { } b && workload == FaultWorkload.Kvstore) result.FailoverMs = b - a;
            result.DetectionMs = timeline.BackupLostMs - faultMs;
            result.DrainMs = (after ?? alone) - timeline.BackupLostMs;
        }

        if (scenario.RepairCycles > 0) RepairFigures(result, timeline, trace);

        // The primary's own figures, from its periodic samples (it may have been killed) over the
        // measured load: a sample covers the time since the one before, so the first counted is
        // the first after the load began.
        if (timeline.Samples.Count > 0)
        {
            var measured = timeline.Samples.Where(x => x.Ms > loadStart).ToList();
            var before = timeline.Samples.LastOrDefault(x => x.Ms <= loadStart);
            var last = timeline.Samples[^1];
            result.LogMbit = before is not null && last.GuestSeconds > before.GuestSeconds
                ? (last.LogBytes - before.LogBytes) * 8 / 1e6 / (last.GuestSeconds - before.GuestSeconds)
                : last.LogMbit;
            if (measured.Count > 0)
            {
                result.MaxLagMs = measured.Max(x => Math.Max(x.RecentMaxLagMs, x.LagMs));
                var holds = measured.SelectMany(x => x.RecentHolds).ToList();
                if (holds.Count > 0)
                {
                    result.HoldP50Ms = Percentiles.Of(holds, 0.5);
                    result.HoldP99Ms = Percentiles.Of(holds, 0.99);
                    result.HoldP999Ms = Percentiles.Of(holds, 0.999);
                }
            }
            foreach (var x in timeline.Samples) result.Lag.Add((x.Ms - loadStart, x.LagMs));
            // Log bytes per request: what the primary shipped between its samples bracketing the
            // measured load, over the requests that arrived between them.
            var lastInLoad = timeline.Samples.LastOrDefault(x => x.Ms <= loadEnd);
            if (workload == FaultWorkload.Kvstore && before is not null && lastInLoad is not null && lastInLoad.Ms > before.Ms)
            {
                int arrived = trace.Requests.Count(r => !r.Warmup && !r.Burst && r.ArrivalMs > before.Ms && r.ArrivalMs <= lastInLoad.Ms);
                if (arrived > 0) result.LogBytesPerRequest = (lastInLoad.LogBytes - before.LogBytes) / (double)arrived;
            }
            long stalls = last.WindowStalls - (before?.WindowStalls ?? 0);
            double stallMs = last.WindowStallMs - (before?.WindowStallMs ?? 0);
            if (stalls > 0) result.Notes.Add($"back-pressure: the primary waited {stalls} times for a full send window, {stallMs:F0} ms in all");
            else if (scenario.ExpectsBackPressure) result.Notes.Add("back-pressure did not engage: the send window never filled");
        }

        // The client's figures.
        foreach (var r in trace.Requests)
        {
            if (r.LatencyMs is { } l && !r.Warmup) result.Latencies.Add(l);
            result.Retries += r.Sends - 1;
        }
        result.SentLines = trace.SentLines.Count;
        if (workload != FaultWorkload.Net)
        {
            // The net workload's requests are frames, counted with its capture.
            result.Requests = trace.Requests.Count;
            result.OutputBytes = trace.Transcript.Length;
        }
        result.LatencyP50Ms = Percentiles.Of(result.Latencies, 0.5);
        result.LatencyP99Ms = Percentiles.Of(result.Latencies, 0.99);
        result.LatencyP999Ms = Percentiles.Of(result.Latencies, 0.999);
        if (workload == FaultWorkload.Kvstore && trace.Scheduled > 0)
        {
            // Open loop: a server that keeps up answers, within the load window, what was offered
            // in it (a solo kvstore keeps up with the default rate): served / offered.
            // Requests arriving early enough to be answered within the window count.
            double last = loadEnd - options.RetryTimeout.TotalMilliseconds;
            var window = trace.Requests.Where(r => !r.Burst && r.ArrivalMs >= loadStart && r.ArrivalMs <= last).ToList();
            int served = window.Count(r => r.ReplyMs is { } t && t <= loadEnd);
            if (window.Count > 0) result.ThroughputRatio = served / (double)window.Count;
        }
        else if (workload == FaultWorkload.Cpubench && soloCpubenchSeconds > 0)
        {
            var start = trace.LineReceivedAt("cpubench iterations=");
            var end = trace.LineReceivedAt("cpubench checksum=");
            if (start is { } s && end is { } e && e > s) result.ThroughputRatio = soloCpubenchSeconds / ((e - s) / 1000);
        }
        return reference;
    }
}
