using System.CommandLine;
using System.Net.Sockets;
using VmFt.Hypervisor.Serial;

namespace VmFt.Hypervisor.Cli;

/// <summary>
/// <c>vmft console HOST:PORT</c>: the terminal on a guest's console over TCP, the client port a
/// relay listens on (what <c>vmft ft</c> prints) or a <c>--serial tcp:</c> console, without netcat:
/// raw with the escape key on a terminal, as <c>vmft run --serial stdio</c>.
/// </summary>
public static class ConsoleCommand
{
    /// <summary>Exit code when the other side closed the connection while the user was still there.</summary>
    public const int ConnectionClosedExit = 1;

    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    public static Command Create()
    {
        var address = new Argument<string>("address") { Description = "HOST:PORT of a relay's client port (vmft ft prints it) or of a --serial tcp: console" };
        var line = new Option<bool>("--line") { Description = "keep the terminal's line mode (its echo and editing, Enter as LF, Ctrl-C ends vmft), for line-protocol guests such as kvstore" };
        var command = new Command("console", "Attach this terminal to a guest's console over TCP (Ctrl-A x quits, Ctrl-A h helps)") { address, line };
        command.SetAction(parse => CliErrors.Guard("console", () =>
        {
            string text = parse.GetValue(address)!;
            var endpoint = EndPointParser.Parse(text, "address");
            Socket connection;
            try
            {
                connection = RelayConsoleClient.Connect(endpoint, ConnectTimeout);
            }
            catch (Exception e) when (e is SocketException or TimeoutException)
            {
                throw new UsageException($"cannot connect to {endpoint}: {e.Message}");
            }
            using var _ = connection;
            ConsoleSessionEnd end;
            using (var terminal = TerminalConsole.OpenStandard(lineMode: parse.GetValue(line)))
            {
                if (terminal.IsRaw)
                {
                    terminal.Write($"vmft console: connected to {endpoint}; Ctrl-A x quits, Ctrl-A h helps\r\n");
                }
                end = RelayConsoleClient.Run(connection, terminal);
            }
            // The terminal has its settings back: the lines below read as usual.
            switch (end)
            {
                case ConsoleSessionEnd.ConnectionClosed:
                    Console.Error.WriteLine($"vmft console: the connection to {endpoint} closed (the relay or the guest's console ended)");
                    return ConnectionClosedExit;
                case ConsoleSessionEnd.Quit:
                    Console.Error.WriteLine("vmft console: quit (Ctrl-A x)");
                    return 0;
                default:
                    return 0;
            }
        }));
        return command;
    }
}
