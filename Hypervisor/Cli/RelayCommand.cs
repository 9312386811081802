using System.CommandLine;
using System.Net;
using VmFt.Channel.Transport;
using VmFt.Hypervisor.FaultTolerance.Processes;

namespace VmFt.Hypervisor.Cli;

/// <summary><c>vmft relay</c>: the clients' network in front of the two nodes (exactly-once both ways).</summary>
public static class RelayCommand
{
    public static Command Create()
    {
        var listen = new Option<string>("--listen") { Description = "HOST:PORT where the client connects", Required = true };
        var nodes = new Option<string>("--nodes") { Description = "HOST:PORT,HOST:PORT: the relay ports of the two nodes", Required = true };
        var net = new Option<string?>("--net")
        {
            Description = "the network the guest's card is on: tap,ifname=NAME[,netns=NS] (the relay opens the TAP and forwards its frames to and from the live node, each output frame once; give the nodes the same --net)",
        };
        var command = new Command("relay", "Run the exactly-once relay between a client and the FT nodes") { listen, nodes, net };
        command.SetAction(parse => CliErrors.Guard("relay", () =>
        {
            var listenEnd = EndPointParser.Parse(parse.GetValue(listen)!, "--listen");
            var nodeEnds = new List<EndPoint>();
            foreach (var part in parse.GetValue(nodes)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                nodeEnds.Add(EndPointParser.Parse(part, "--nodes"));
            if (nodeEnds.Count == 0) throw new UsageException("--nodes: give at least one HOST:PORT");
            // The TAP first: a relay that cannot have its network says so before anything listens.
            using var tap = parse.GetValue(net) is { } spec ? MachineOptions.OpenTap(spec) : null;
            TcpChannelListener listener;
            try
            {
                listener = TcpChannelListener.Start(listenEnd);
            }
            catch (System.Net.Sockets.SocketException e)
            {
                throw new UsageException($"--listen {listenEnd}: cannot listen: {e.Message}");
            }
            using var _ = listener;
            using var cts = new CancellationTokenSource();
            Console.CancelKeyPress += (_, e) =>
            {
                e.Cancel = true;
                cts.Cancel();
            };
            using var logging = CliLogging.Create(parse, statusOnStdout: true);
            RelayProcess.RunAsync(listener, nodeEnds, logging, cts.Token, tap).GetAwaiter().GetResult();
            return 0;
        }));
        return command;
    }
}
