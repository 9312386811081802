using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace VmFt.Hypervisor.Tests.Cli;

/// <summary>A pseudo-terminal pair from libc's openpty, for tests of what vmft does to a terminal.</summary>
internal static partial class PseudoTerminal
{
    [LibraryImport("libc", EntryPoint = "openpty", SetLastError = true)]
    private static partial int OpenPty(out int master, out int slave, nint name, nint termios, nint winsize);

    [LibraryImport("libc", EntryPoint = "close")]
    public static partial int Close(int fd);

    public static (int Master, int Slave) Open()
    {
        if (OpenPty(out int master, out int slave, 0, 0, 0) != 0)
            throw new IOException($"openpty failed: errno {Marshal.GetLastPInvokeError()}");
        return (master, slave);
    }
}

/// <summary>
/// Runs a shell command line on a pseudo-terminal with util-linux's <c>script</c>: the command
/// sees a terminal on its standard input and output; the test types into script's standard input
/// and reads what the terminal shows from script's standard output.
/// </summary>
internal sealed class OnTerminal : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _screen = new();
    private readonly Task _pump;

    public static bool Available => File.Exists("/usr/bin/script");

    public OnTerminal(string shellCommand)
    {
        var info = new ProcessStartInfo("script")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // -q: no banner; -e: script's exit code is the command's; -c: the command; /dev/null: no typescript file.
        foreach (var a in new[] { "-qec", shellCommand, "/dev/null" }) info.ArgumentList.Add(a);
        _process = Process.Start(info)!;
        _pump = Task.Run(async () =>
        {
            var buffer = new char[4096];
            int n;
            while ((n = await _process.StandardOutput.ReadAsync(buffer)) > 0)
                lock (_screen) _screen.Append(buffer, 0, n);
        });
    }

    public string Screen { get { lock (_screen) return _screen.ToString(); } }

    public void Type(string keys)
    {
        var bytes = Encoding.Latin1.GetBytes(keys);
        _process.StandardInput.BaseStream.Write(bytes);
        _process.StandardInput.BaseStream.Flush();
    }

    public void WaitFor(string text, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (!Screen.Contains(text, StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the terminal never showed '{text}'; it shows:\n{Screen}");
            Thread.Sleep(20);
        }
    }

    public int WaitForExit(TimeSpan? timeout = null)
    {
        if (!_process.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
            throw new TimeoutException($"the terminal's command did not end; it shows:\n{Screen}");
        _pump.Wait(TimeSpan.FromSeconds(10));
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }
}

/// <summary>One TCP connection on loopback, as a relay's client port looks from the client.</summary>
internal sealed class LoopbackPeer : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private Socket? _socket;
    private readonly MemoryStream _received = new();
    private Task? _reader;

    public LoopbackPeer() => _listener.Start(1);

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndpoint;

    public bool InputEnded { get; private set; }

    public void Accept(TimeSpan timeout)
    {
        var accept = _listener.AcceptSocketAsync();
        if (!accept.Wait(timeout)) throw new TimeoutException("vmft console never connected");
        _socket = accept.Result;
        _reader = Task.Run(() =>
        {
            var buffer = new byte[4096];
            try
            {
                int n;
                while ((n = _socket.Receive(buffer)) > 0)
                    lock (_received) _received.Write(buffer, 0, n);
                InputEnded = true;
            }
            catch (SocketException)
            {
            }
        });
    }

    public byte[] Received { get { lock (_received) return _received.ToArray(); } }

    public void Send(string text) => _socket!.Send(Encoding.Latin1.GetBytes(text));

    public void WaitForReceived(byte[] expected, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Received.AsSpan().SequenceEqual(expected))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"received [{Convert.ToHexString(Received)}], expected [{Convert.ToHexString(expected)}]");
            Thread.Sleep(20);
        }
    }

    public void WaitForInputEnd(TimeSpan timeout)
    {
        if (!_reader!.Wait(timeout)) throw new TimeoutException("the client's input never ended");
    }

    public void CloseConnection()
    {
        _socket?.Shutdown(SocketShutdown.Both);
        _socket?.Close();
    }

    public void Dispose()
    {
        _socket?.Dispose();
        _listener.Stop();
    }

    /// <summary>A loopback port nobody listens on (bound, then released).</summary>
    public static int UnusedPort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
