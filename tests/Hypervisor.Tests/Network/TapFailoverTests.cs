using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using VmFt.Hypervisor.Cli;
using VmFt.Hypervisor.FaultTolerance.Processes;
using VmFt.Hypervisor.Network;
using VmFt.Hypervisor.Tests.Cli;
using Xunit;
using Xunit.Abstractions;

namespace VmFt.Hypervisor.Tests.Network;

/// <summary>
/// Frames under FT with real processes on a real TAP: backup, primary and relay as processes (the
/// relay's TAP in a namespace of the test's own, <c>--net tap,ifname=vt0,netns=NS</c>), the bundled
/// <c>netecho</c> guest answering every frame, a client on a raw socket in the namespace, and
/// <c>tcpdump</c> capturing the TAP. The primary is SIGKILLed while frames flow. The capture must
/// hold every request once and every answer once, in order, each the answer to its request and
/// carrying the count of frames the guest had received before it (a frame the guest got twice or
/// never shifts every count after it).
/// </summary>
public sealed class TapFailoverTests(ITestOutputHelper log)
{
    [NamespaceFact(Needs = "tcpdump")]
    public async Task ACaptureOnTheTapShowsEveryFrameOnceInOrderAcrossAPrimaryKill()
    {
        const int Frames = 60, KillAt = 30;
        using var ns = new NetworkNamespace();
        ns.AddTap("vt0");   // no address, IPv6 off: the kernel itself sends nothing on it
        string capture = Path.Combine(Path.GetTempPath(), $"{ns.Name}.pcap");
        var output = new StringBuilder();
        void Say(string line)
        {
            lock (output) output.AppendLine(line);
        }
        // In immediate mode libpcap uses a TPACKET_V2 ring whose slots are sized for the snapshot
        // length; on a TAP (which can carry 64 KiB GSO frames) the defaults give 32 slots of 64 KiB,
        // so the burst of answers at go-live, on a loaded machine, overran it and the kernel dropped
        // frames before tcpdump saw them. A 2 KiB snapshot (every frame in this test is 60 bytes, and
        // a longer one would show as truncated, not pass) and an 8 MiB buffer give ~3,900 slots.
        using var tcpdump = Process.Start(ns.StartInfo(new ProcessStartInfo("tcpdump") { ArgumentList = { "-i", "vt0", "--immediate-mode", "-U", "-n", "-s", "2048", "-B", "8192", "-Z", "root", "-w", capture } }))!;
        try
        {
            var tcpdumpErrors = new StringBuilder();
            var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            tcpdump.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                lock (tcpdumpErrors) tcpdumpErrors.AppendLine(e.Data);
                if (e.Data.Contains("listening on vt0", StringComparison.Ordinal)) listening.TrySetResult();
            };
            tcpdump.BeginErrorReadLine();
            await Task.WhenAny(listening.Task, Task.Delay(TimeSpan.FromSeconds(20)));
            Assert.True(listening.Task.IsCompleted, $"tcpdump did not start: {tcpdumpErrors}");

            using var cluster = new FtProcesses
            {
                StartInfo = VmftProcess.StartInfo,
                Line = l => Say($"[{l.Child}] {l.Text}"),
                RelayArgs = ["--net", $"tap,ifname=vt0,netns={ns.Name}"],
            };
            string address = await cluster.StartAsync(["netecho", "--mem", "16M", "--net", "tap,ifname=vt0"],
                ["--heartbeat-ms", "100", "--timeout-ms", "1000", "--vm-id", "vm-" + Guid.NewGuid().ToString("N")[..12]], TimeSpan.FromSeconds(60), untilServing: true);

            // The guest's banner on the serial line, through the relay: its receive buffers are posted.
            using var serial = new TcpClient();
            serial.Connect(EndPointParser.Parse(address, "relay"));
            var banner = new StringBuilder();
            var stream = serial.GetStream();
            stream.ReadTimeout = 30_000;
            var buffer = new byte[256];
            while (!banner.ToString().Contains("netecho ready\n"))
            {
                int n = stream.Read(buffer);
                Assert.True(n > 0, $"the serial line closed before the banner: {banner}");
                banner.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }

            using var client = PacketSocket.Open("vt0", NetechoFrames.EtherType, ns.Name);
            var answers = new List<(int Seq, int Count)>();
            bool stop = false;
            var reader = new Thread(() =>
            {
                var frame = new byte[2048];
                while (!Volatile.Read(ref stop))
                {
                    int n = client.Receive(frame, 50, out _);
                    if (n > 0 && NetechoFrames.TryReadAnswer(frame.AsSpan(0, n), out int seq, out int count)) lock (answers) answers.Add((seq, count));
                }
            }) { IsBackground = true };
            reader.Start();
            int Answered()
            {
                lock (answers) return answers.Count;
            }

            int answeredAtKill = -1;
            for (int i = 0; i < Frames; i++)
            {
                if (i == KillAt)
                {
                    // Only once answers flow (a fresh node runs its first frames slowly), so the kill is mid-stream.
                    for (int w = 0; w < 500 && Answered() < KillAt / 2; w++) Thread.Sleep(20);
                    answeredAtKill = Answered();
                    Say($"test: SIGKILL to the primary after {i} frames sent, {answeredAtKill} answered");
                    cluster.Primary!.Kill();
                }
                Assert.True(client.Send(NetechoFrames.Request(i)), $"the kernel refused frame {i}");
                Thread.Sleep(20);
            }
            var waited = Stopwatch.StartNew();
            while (Answered() < Frames && waited.Elapsed < TimeSpan.FromSeconds(30)) Thread.Sleep(20);
            Thread.Sleep(500);   // a repeat would come after the last answer: give one the time to show
            Volatile.Write(ref stop, true);
            reader.Join();
            await cluster.Backup!.WaitForLineAsync(l => l.Contains(": live as generation 1", StringComparison.Ordinal) ? l : null, TimeSpan.FromSeconds(10), "the go-live line");
            Assert.True(cluster.Primary!.HasExited);

            // Each frame goes to the file as it comes (--immediate-mode, -U); a SIGINT ends tcpdump
            // at once, with what it has not yet taken from the kernel left out (its counts say so).
            // So wait, bounded, until the file holds as many frames as the two directions had.
            for (int i = 0; i < 100 && CountCapture(capture) < 2 * Frames; i++) Thread.Sleep(50);
            UnixSignals.Interrupt(tcpdump.Id);   // it writes its counts and closes the capture
            Assert.True(tcpdump.WaitForExit(10_000), "tcpdump did not end on SIGINT");
            tcpdump.WaitForExit();
            string counts;
            lock (tcpdumpErrors) counts = tcpdumpErrors.ToString();
            Say($"tcpdump: {counts.Trim().Replace('\n', ' ')}");
            Assert.Matches(@"(?m)^0 packets dropped by kernel", counts);
            var captured = System.Text.RegularExpressions.Regex.Match(counts, @"(?m)^(\d+) packets captured\s+(\d+) packets received by filter");
            Assert.True(captured.Success && captured.Groups[1].Value == captured.Groups[2].Value, $"tcpdump left frames out of the capture: {counts}");

            var frames = ReadCapture(capture);
            var requests = frames.Where(f => NetechoFrames.IsRequest(f)).ToList();
            var others = frames.Where(f => !NetechoFrames.IsRequest(f)).ToList();
            Say($"test: {frames.Count} frames captured, {requests.Count} requests; the client got {answers.Count} answers, {answeredAtKill} before the kill");
            Assert.InRange(answeredAtKill, 1, Frames - 1);   // the kill came while frames flowed
            Assert.Equal(Frames, requests.Count);
            for (int i = 0; i < Frames; i++) Assert.Equal(NetechoFrames.Request(i), requests[i]);
            // Every other frame on the TAP is one the guest sent: its answers, each once, in order.
            Assert.Equal(Frames, others.Count);
            for (int i = 0; i < Frames; i++)
            {
                Assert.True(NetechoFrames.TryReadAnswer(others[i], out int seq, out int count), $"frame {i} from the guest is no answer: {Convert.ToHexString(others[i])}");
                Assert.Equal(i, seq);     // the answer to request i, in its place
                Assert.Equal(i, count);   // the guest had received every request before it once
            }
            lock (answers) Assert.Equal(Enumerable.Range(0, Frames).Select(i => (i, i)), answers);
        }
        finally
        {
            if (!tcpdump.HasExited) tcpdump.Kill();
            lock (output) log.WriteLine(output.ToString());
            File.Delete(capture);
        }
    }

    /// <summary>Frames in the capture so far (the file may end inside one being written).</summary>
    private static int CountCapture(string path)
    {
        byte[] file;
        try
        {
            using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            file = new byte[f.Length];
            f.ReadExactly(file);
        }
        catch (IOException)
        {
            return 0;
        }
        int n = 0, at = 24;
        while (at + 16 <= file.Length && at + 16 + (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at + 8)) <= file.Length)
        {
            at += 16 + (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at + 8));
            n++;
        }
        return n;
    }

    /// <summary>The frames of a classic pcap file (what tcpdump -w writes), in capture order.</summary>
    private static List<byte[]> ReadCapture(string path)
    {
        byte[] file = File.ReadAllBytes(path);
        Assert.True(file.Length >= 24, $"{path}: {file.Length} bytes, no pcap header");
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(file);
        Assert.True(magic is 0xA1B2C3D4 or 0xA1B23C4D, $"{path}: not a little-endian pcap file (magic {magic:x8})");
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(20)));   // LINKTYPE_ETHERNET
        var frames = new List<byte[]>();
        int at = 24;
        while (at + 16 <= file.Length)
        {
            int included = (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at + 8));
            int original = (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at + 12));
            Assert.Equal(original, included);   // not cut by the snapshot length
            frames.Add(file.AsSpan(at + 16, included).ToArray());
            at += 16 + included;
        }
        Assert.Equal(file.Length, at);
        return frames;
    }
}
