using System.Net;
using System.Net.Sockets;

namespace VmFt.Hypervisor.Serial;

/// <summary>How a <c>vmft console</c> session ended.</summary>
public enum ConsoleSessionEnd
{
    /// <summary>Ctrl-A x.</summary>
    Quit,
    /// <summary>The input ended (a pipe or file ran out), and the other side then closed.</summary>
    InputEnded,
    /// <summary>The other side closed the connection (or it broke) while input was still open: the relay ended.</summary>
    ConnectionClosed,
}

/// <summary>
/// <c>vmft console</c>'s loop: a <see cref="TerminalConsole"/> joined to a TCP connection (a
/// relay's client port, or a <c>--serial tcp:</c> console), bytes both ways as they come, until
/// the escape key quits or the connection ends. The end of the input half-closes the connection
/// (as netcat), so the other side sees the end of the input and everything it answers still arrives.
/// </summary>
public static class RelayConsoleClient
{
    /// <summary>Connects, or throws <see cref="SocketException"/> (refused, unreachable) or <see cref="TimeoutException"/>.</summary>
    public static Socket Connect(EndPoint endpoint, TimeSpan timeout)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var cts = new CancellationTokenSource(timeout);
            socket.ConnectAsync(endpoint, cts.Token).AsTask().GetAwaiter().GetResult();
            return socket;
        }
        catch (OperationCanceledException)
        {
            socket.Dispose();
            throw new TimeoutException($"no answer within {timeout.TotalSeconds:0} s");
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public static ConsoleSessionEnd Run(Socket connection, TerminalConsole terminal)
    {
        int inputEnded = 0;
        terminal.Start(
            data =>
            {
                try
                {
                    connection.Send(data);
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    // The connection is gone; the receiving side below notices and ends the session.
                }
            },
            () =>
            {
                Volatile.Write(ref inputEnded, 1);
                try
                {
                    connection.Shutdown(SocketShutdown.Send);
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                }
            });
        // A quit must wake the receive below, which may wait for a silent guest forever.
        using var onQuit = terminal.QuitRequested.Register(() =>
        {
            try
            {
                connection.Shutdown(SocketShutdown.Both);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
            }
        });
        var buffer = new byte[4096];
        try
        {
            int n;
            while ((n = connection.Receive(buffer)) > 0)
                terminal.Write(buffer.AsSpan(0, n));
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        if (terminal.QuitRequested.IsCancellationRequested) return ConsoleSessionEnd.Quit;
        return Volatile.Read(ref inputEnded) == 1 ? ConsoleSessionEnd.InputEnded : ConsoleSessionEnd.ConnectionClosed;
    }
}
