using System.Net.Sockets;
using VmFt.Hypervisor.Debugging;
using VmFt.Hypervisor.Debugging.Gdb;

namespace VmFt.Hypervisor.Cli;

/// <summary>
/// <c>vmft debug FILE --gdb HOST:PORT</c>: serves a recording to gdb's remote protocol. Prints
/// <c>gdb server listening on HOST:PORT</c> (the real port when 0 was given) once it accepts
/// connections; serves one gdb after another until one of them kills the target.
/// </summary>
public static class GdbServeCommand
{
    /// <summary>Returns the exit code: 0 after gdb's kill or cancellation, 2 for a bad recording or endpoint.</summary>
    public static int Serve(string recordingPath, string endpoint, SnapshotOptions? snapshots = null,
        TextWriter? output = null, TextWriter? error = null, CancellationToken cancellation = default)
    {
        output ??= Console.Out;
        error ??= Console.Error;
        try
        {
            var address = EndPointParser.Parse(endpoint, "--gdb");
            ReplaySession session;
            try
            {
                session = ReplaySession.Open(recordingPath, snapshots);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"{recordingPath}: cannot read: {e.Message}");
            }
            GdbServer server;
            try
            {
                server = new GdbServer(session, address, output);
            }
            catch (SocketException e)
            {
                throw new UsageException($"--gdb {endpoint}: cannot listen: {e.Message}");
            }
            using (server)
            {
                output.WriteLine($"gdb server listening on {server.EndPoint}");
                output.Flush();
                server.Run(cancellation);
            }
            return 0;
        }
        catch (Exception e) when (e is UsageException or InputException)
        {
            error.WriteLine($"vmft debug: {e.Message}");
            return VmftCommand.BadInput;
        }
    }
}
