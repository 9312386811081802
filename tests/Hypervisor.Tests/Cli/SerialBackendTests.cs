using System.Net;
using System.Net.Sockets;
using System.Text;
using VmFt.Guest.Images;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.Serial;
using VmFt.Hypervisor.Live;
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
}
