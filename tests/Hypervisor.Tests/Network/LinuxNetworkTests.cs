using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.Bench;
using VmFt.Hypervisor.Recording;
using VmFt.Hypervisor.Replay;
using VmFt.ReplayLog.Events;
using VmFt.Hypervisor.Network;
using Xunit;
using Xunit.Abstractions;

namespace VmFt.Hypervisor.Tests.Network;

/// <summary>
/// Debian's kernel on the virtio-net card, through a TAP inside a namespace of the test's own:
/// <c>vmft record</c> runs there in real time; its own virtio_net driver brings eth0 up, the guest
/// pings the namespace's end of the TAP, and a client in the namespace downloads a file from
/// busybox httpd whose SHA-256 matches the one the guest computes. The recording then replays in
/// this process, where no TAP exists: every frame it received is in its log.
/// </summary>
public sealed class LinuxNetworkTests(ITestOutputHelper output)
{
    private const string HostAddress = "192.168.213.1", GuestAddress = "192.168.213.2";
    private const int FileKiB = 1024;
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(15), Step = TimeSpan.FromMinutes(3);

    [SlowNamespaceFact]
    public void TheGuestPingsServesAFileOverHttpAndTheRecordingReplaysWithoutTheTap()
    {
        var image = LinuxGuestImage.Default;
        if (image.Problem is { } problem) Assert.Fail(problem);
        string folder = Path.Combine(Path.GetTempPath(), $"vmft-linux-net-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        using var ns = new NetworkNamespace();
        try
        {
            ns.AddTap("vt0", HostAddress + "/24");
            string recording = Path.Combine(folder, "net.vmrec"), download = Path.Combine(folder, "f");
            var wall = Stopwatch.StartNew();
            using var vmft = Process.Start(ns.Vmft([
                "record", image.Kernel, "--initrd", image.Initrd, "--append", $"console=ttyS0 vmft.ip={GuestAddress}/24", "--mem", "128M",
                "--clock", "realtime", "--serial", "stdio,line", "--net", "tap,ifname=vt0", "-o", recording, "--no-embed-image"]))!;
            var stderr = vmft.StandardError.ReadToEndAsync();
            var console = new ConsoleTranscript(vmft);
            try
            {
                int at = console.WaitFor(LinuxGuestImage.Marker, 0, Boot);
                at = console.WaitFor("# ", at, Step);
                output.WriteLine($"at the shell after {wall.Elapsed.TotalSeconds:F0} s");
                Assert.Contains("virtio-pci 0000:00:04.0", console.Text);

                // Each marker is computed by the shell, so the echo of the command line never matches it.
                vmft.StandardInput.WriteLine($"ip addr show eth0; ping -c 3 {HostAddress}; echo PING-$?-$((6*7))");
                int pinged = console.WaitFor("-42\r\n", at, Step);
                string ping = console.Text[at..pinged];
                at = pinged;
                Assert.True(ping.Contains("eth0: <"), $"the guest has no eth0: an initramfs from before virtio_net? Run {LinuxGuestImage.BuildCommand} again.\n{ping}");
                Assert.Contains($"inet {GuestAddress}/24", ping);
                Assert.Contains("3 packets transmitted, 3 packets received, 0% packet loss", ping);
                Assert.Contains("PING-0-42", ping);
                foreach (Match m in Regex.Matches(ping, @"time=([0-9.]+) ms")) output.WriteLine($"guest ping rtt {m.Groups[1].Value} ms");

                vmft.StandardInput.WriteLine($"mkdir -p /www && dd if=/dev/urandom of=/www/f bs=1k count={FileKiB} 2>/dev/null && sha256sum /www/f && httpd -h /www -p 80 && echo HTTPD-$((6*7))");
                int hashed = console.WaitFor("HTTPD-42", at, Step);
                var hash = Regex.Match(console.Text[at..hashed], @"([0-9a-f]{64})  /www/f");
                Assert.True(hash.Success, "the guest printed no SHA-256 of /www/f");
                at = console.WaitFor("# ", hashed, Step);

                var fetch = Stopwatch.StartNew();
                var (code, curl) = ns.Exec("curl", "-sS", "--max-time", "300", "-o", download, $"http://{GuestAddress}/f");
                fetch.Stop();
                Assert.True(code == 0, $"curl in the namespace: exit {code}: {curl}");
                byte[] fetched = File.ReadAllBytes(download);
                Assert.Equal(FileKiB * 1024, fetched.Length);
                Assert.Equal(hash.Groups[1].Value, Convert.ToHexStringLower(SHA256.HashData(fetched)));
                output.WriteLine($"downloaded {fetched.Length} bytes in {fetch.Elapsed.TotalSeconds:F2} s ({fetched.Length / fetch.Elapsed.TotalSeconds / 1e6:F2} MB/s, curl's start included)");

                vmft.StandardInput.WriteLine("poweroff -f");
                Assert.True(vmft.WaitForExit(Step), "vmft record did not end after poweroff -f");
            }
            finally
            {
                if (!vmft.HasExited) vmft.Kill();
                vmft.WaitForExit();
            }
            output.WriteLine(stderr.Result);

            // In this process, outside the namespace: no TAP called vt0 exists here.
            var contents = RecordingFile.Read(recording, allowTruncated: false);
            Assert.NotNull(contents.Header.NetworkMac);
            var received = contents.Events.OfType<NetReceiveEvent>().Select(e => e.Frame).ToList();
            int frames = received.Count;
            // The three echo replies to the guest's ping, each once, and the client's side of the download.
            Assert.Equal(3, received.Count(f => f.Length >= 34 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 1 && f[14 + (f[14] & 0xF) * 4] == 0));
            Assert.Contains(received, f => f.Length >= 38 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 6 && (f[14 + (f[14] & 0xF) * 4 + 2] << 8 | f[14 + (f[14] & 0xF) * 4 + 3]) == 80);
            var replayer = new Replayer(RecordedMachine.Build(contents.Header, recording));
            replayer.Feed(contents.Events);
            var result = replayer.Result;
            int checkpoints = contents.Events.OfType<CheckpointEvent>().Count();
            long frameBytes = contents.Events.OfType<NetReceiveEvent>().Sum(e => (long)e.Frame.Length);
            output.WriteLine($"replayed {result.Position} instructions, {result.CheckpointsVerified} checkpoints, {frames} received frames ({frameBytes} bytes); recording {new FileInfo(recording).Length} bytes");
            Assert.Equal(checkpoints, result.CheckpointsVerified);
            Assert.Equal(MachineExitReason.DeadHalt, result.ExitReason);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
