using System.Net;
using System.Net.Sockets;
using System.Text;
using VmFt.Guest.Images;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.Live;
using VmFt.Hypervisor.Serial;
using VmFt.ReplayLog;
using Xunit;

namespace VmFt.Hypervisor.Tests.Cli;

public class SerialBackendTests
{
    [Fact]
    public async Task Kvstore_serves_a_client_over_the_tcp_serial_backend()
    {
        using var backend = new TcpSerialBackend(new IPEndPoint(IPAddress.Loopback, 0));
        var machine = new PcMachine(new MachineConfiguration());
        machine.LoadMultiboot(BundledImages.Get("kvstore"), "kvstore");
        var run = Task.Run(() => new LiveRunner(machine, ClockMode.Realtime, backend).Run(2_000_000_000));

        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, backend.LocalEndPoint.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("t1 1 PUT x 42\nt1 2 GET x\nSHUTDOWN\n"));
        var outcome = await run.WaitAsync(TimeSpan.FromMinutes(1));

        Assert.Equal(MachineExitReason.DebugExit, outcome.Reason);
        var received = new StringBuilder();
        var buffer = new byte[4096];
        stream.ReadTimeout = 5000;
        while (!received.ToString().Contains("t1 2 VALUE 42"))
        {
            int n = stream.Read(buffer, 0, buffer.Length);
            if (n == 0) break;
            received.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }
        Assert.Contains("t1 1 OK", received.ToString());
        Assert.Contains("t1 2 VALUE 42", received.ToString());
    }

    [Fact]
    public async Task With_wait_the_guest_starts_only_once_a_client_is_there_so_it_gets_the_banner()
    {
        var info = new System.Diagnostics.ProcessStartInfo("dotnet")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "vmft.dll"), "run", "kvstore", "--serial", "tcp:127.0.0.1:0,wait" })
            info.ArgumentList.Add(a);
        using var process = System.Diagnostics.Process.Start(info)!;
        try
        {
            _ = process.StandardOutput.ReadToEndAsync();
            string? line = await process.StandardError.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(1));
            var match = System.Text.RegularExpressions.Regex.Match(line ?? "", @"^vmft: serial console on tcp:127\.0\.0\.1:(\d+), waiting for a client$");
            Assert.True(match.Success, line);
            await Task.Delay(500); // a guest that did not wait would have printed its banner to nobody by now
            Assert.False(process.HasExited);

            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, int.Parse(match.Groups[1].Value));
            var stream = client.GetStream();
            var received = new StringBuilder();
            var buffer = new byte[4096];
            while (!received.ToString().Contains("kvstore ready\n"))
            {
                int n = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromMinutes(1));
                Assert.True(n > 0, $"connection ended after: {received}");
                received.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }
            Assert.StartsWith("kvstore ready\n", received.ToString().Replace("\r", ""));
            await stream.WriteAsync(Encoding.ASCII.GetBytes("SHUTDOWN\n"));
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(1));
            Assert.Equal(1, process.ExitCode); // kvstore's clean exit: debug-exit status 0
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }
}
