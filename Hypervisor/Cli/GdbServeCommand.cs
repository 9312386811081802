using System.Net.Sockets;
using VmFt.Hypervisor.Debugging;
using VmFt.Hypervisor.Debugging.Gdb;

namespace VmFt.Hypervisor.Cli;

/// <summary>
/// <c>vmft debug FILE --gdb HOST:PORT</c>: serves a recording to gdb's remote protocol. Prints
/// <c>gdb server listening on HOST:PORT</c> (the real port when 0 was given) once it accepts
/// connections; serves one gdb after another until one of them kills the target. gdb reads its
/// symbols itself (<c>file IMAGE.elf</c>); a System.map given to <c>--symbols</c> is written out as
/// an ELF symbol table for it (<see cref="ElfSymbols.ToSymbolElf"/>), and the line
/// <c>gdb symbols: file PATH</c> says where.
/// </summary>
public static class GdbServeCommand
{
    /// <summary>Returns the exit code: 0 after gdb's kill or cancellation, 2 for a bad recording or endpoint.</summary>
    /// <param name="symbolsPath">An ELF file or a System.map (see <see cref="SymbolFile"/>); a System.map becomes <paramref name="symbolElfPath"/>.</param>
    /// <param name="symbolOffset">Added to every symbol (a kernel relocated by KASLR); the symbols are then written out for gdb even from an ELF file.</param>
    /// <param name="symbolElfPath">Where a System.map's symbols are written as ELF (default: a file in the temp folder, deleted when the server ends).</param>
    public static int Serve(string recordingPath, string endpoint, SnapshotOptions? snapshots = null,
        TextWriter? output = null, TextWriter? error = null, CancellationToken cancellation = default,
        string? symbolsPath = null, string? symbolElfPath = null, uint symbolOffset = 0)
    {
        output ??= Console.Out;
        error ??= Console.Error;
        string? temporary = null;
        try
        {
            var address = EndPointParser.Parse(endpoint, "--gdb");
            string? gdbSymbols = null;
            if (symbolsPath is null && symbolOffset != 0) throw new UsageException("--symbols-offset: needs --symbols (gdb reads an image's symbols itself: add-symbol-file FILE -o OFFSET)");
            if (symbolsPath is not null)
            {
                ElfSymbols symbols;
                try
                {
                    symbols = SymbolFile.Load(symbolsPath, out string? warning);
                    if (warning is not null) throw new UsageException($"--symbols: {symbolsPath}: {warning}");
                }
                catch (SymbolFileException e)
                {
                    throw new UsageException($"--symbols: {e.Message}");
                }
                if (symbolOffset == 0 && SymbolFile.IsElf(symbolsPath))
                {
                    gdbSymbols = symbolsPath;
                }
                else
                {
                    gdbSymbols = symbolElfPath ?? (temporary = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"vmft-gdb-symbols-{Environment.ProcessId}-{Guid.NewGuid():N}.elf"));
                    try
                    {
                        File.WriteAllBytes(gdbSymbols, symbols.WithOffset(symbolOffset).ToSymbolElf());
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                    {
                        throw new UsageException($"--symbols: cannot write the symbols for gdb to {gdbSymbols}: {e.Message}");
                    }
                }
            }
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
                if (gdbSymbols is not null) output.WriteLine($"gdb symbols: file {gdbSymbols}");
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
        finally
        {
            if (temporary is not null) File.Delete(temporary);
        }
    }
}
