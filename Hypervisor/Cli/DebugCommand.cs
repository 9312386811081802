using System.CommandLine;
using VmFt.Hypervisor.Debugging.Terminal;
using VmFt.Hypervisor.Debugging;
using VmFt.Hypervisor.Images;
using VmFt.Hypervisor.Recording;
using VmFt.ReplayLog.Recording;

namespace VmFt.Hypervisor.Cli;

/// <summary><c>vmft debug FILE</c>: the replay debugger on a terminal (or a script), forwards and backwards through a recording.</summary>
public static class DebugCommand
{
    /// <summary>Exit code of <c>--batch</c> when a command of the script failed.</summary>
    public const int ScriptFailedExit = 1;

    public static Command Create()
    {
        var file = new Argument<string>("recording") { Description = "a recording made by vmft record" };
        var interval = new Option<ulong?>("--snapshot-interval") { Description = $"instructions between automatic snapshots (default {new SnapshotOptions().Interval})" };
        var budget = new Option<string?>("--snapshot-budget") { Description = "memory the snapshots may use, e.g. 512M (default 1G)" };
        var symbols = new Option<string?>("--symbols") { Description = "an ELF file or a Linux System.map with the guest's symbols (default: the recorded image's ELF symbols)" };
        var offset = new Option<string?>("--symbols-offset") { Description = "add this to every symbol (0x hex or decimal): how far a relocated kernel (KASLR) runs above its System.map" };
        var commands = new Option<string?>("--commands", "-x") { Description = "run the debugger commands in this file first" };
        var batch = new Option<bool>("--batch") { Description = "exit after the -x commands instead of reading more from the terminal" };
        var gdb = new Option<string?>("--gdb") { Description = "serve the recording to gdb's remote protocol at HOST:PORT instead of the terminal (port 0: any free port)" };
        var command = new Command("debug", "Debug a recording: step, continue and watch, forwards and backwards in time")
        {
            file, interval, budget, symbols, offset, commands, batch, gdb,
        };
        command.SetAction(parse => CliErrors.Guard("debug", () =>
        {
            var options = new SnapshotOptions();
            if (parse.GetValue(interval) is { } every)
            {
                if (every == 0) throw new UsageException("--snapshot-interval: must be at least 1");
                options = options with { Interval = every };
            }
            if (parse.GetValue(budget) is { } size)
            {
                ulong bytes = SizeParser.Parse(size, "--snapshot-budget");
                if (bytes > long.MaxValue) throw new UsageException($"--snapshot-budget: {size} is too large");
                if (bytes == 0) throw new UsageException("snapshot budget: must be more than 0 bytes");
                options = options with { MemoryBudgetBytes = (long)bytes };
            }
            uint symbolOffset = ParseOffset(parse.GetValue(offset));
            if (parse.GetValue(gdb) is { } endpoint)
            {
                if (parse.GetValue(commands) is not null || parse.GetValue(batch))
                    throw new UsageException("--gdb: the terminal's options (-x, --batch) do not apply; gdb runs its own scripts");
                using var stop = new CancellationTokenSource();
                ConsoleCancelEventHandler onCancel = (_, e) =>
                {
                    e.Cancel = true;
                    stop.Cancel();
                };
                Console.CancelKeyPress += onCancel;
                try
                {
                    return GdbServeCommand.Serve(parse.GetValue(file)!, endpoint, options, cancellation: stop.Token, symbolsPath: parse.GetValue(symbols), symbolOffset: symbolOffset);
                }
                finally
                {
                    Console.CancelKeyPress -= onCancel;
                }
            }
            string? script = parse.GetValue(commands) is { } scriptPath ? ReadScript(scriptPath) : null;
            if (parse.GetValue(batch) && script is null) throw new UsageException("--batch: needs a command file (-x FILE)");

            string path = parse.GetValue(file)!;
            var contents = ReadRecording(path);
            var session = new ReplaySession(contents, path, options);
            var elf = LoadSymbols(parse.GetValue(symbols), contents.Header).WithOffset(symbolOffset);
            return Run(session, elf, path, script, parse.GetValue(batch));
        }));
        return command;
    }

    private static int Run(ReplaySession session, ElfSymbols symbols, string path, string? script, bool batch)
    {
        var output = Console.Out;
        var interpreter = new DebugInterpreter(session, symbols, output);
        bool interactive = !batch && !Console.IsInputRedirected;
        // Ctrl-C interrupts a motion; at the prompt it only reminds how to leave.
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            if (!interpreter.Interrupt() && interactive)
            {
                output.WriteLine();
                output.Write("(quit or Ctrl-D leaves the debugger)\n" + DebugInterpreter.Prompt);
                output.Flush();
            }
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            var h = session.Header;
            output.WriteLine($"{path}: image {h.ImageName}, {session.Events.Count} events, positions 0 to {session.EndPosition}; {symbols.Count} symbols. Type help for the commands.");
            interpreter.Execute("when", repeatOnEmpty: false);
            bool quit = false;
            if (script is not null) quit = !interpreter.RunScript(new StringReader(script));
            if (!quit && !batch) interpreter.Run(Console.In, interactive);
            output.Flush();
            return batch && interpreter.Errors > 0 ? ScriptFailedExit : 0;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary><c>--symbols-offset</c>: 0x hex or decimal, below 4 GiB.</summary>
    public static uint ParseOffset(string? text)
    {
        if (text is null) return 0;
        bool hex = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        if (hex ? uint.TryParse(text.AsSpan(2), System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out uint value)
                : uint.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out value))
            return value;
        throw new UsageException($"--symbols-offset: '{text}' is not an offset (0x hex or decimal, below 4 GiB)");
    }

    private static string ReadScript(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new UsageException($"--commands: {path}: no such file");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--commands: {path}: cannot read: {e.Message}");
        }
    }

    /// <summary>
    /// Reads the whole recording. A recording cut short (the recorder died) is still worth
    /// debugging: it is opened with a warning, up to its last complete block.
    /// </summary>
    private static RecordingContents ReadRecording(string path)
    {
        var contents = RecordingFile.Read(path, allowTruncated: true);
        if (!contents.IsComplete)
            Console.Error.WriteLine($"vmft debug: warning: {path}: the recording is truncated ({contents.Truncation!.Message}); debugging what it holds");
        return contents;
    }

    /// <summary>Symbols from --symbols, else from the recorded image (embedded, or the bundled guest it names).</summary>
    private static ElfSymbols LoadSymbols(string? symbolsPath, RecordingHeader header)
    {
        string? problem;
        ElfSymbols symbols;
        if (symbolsPath is not null)
        {
            if (!File.Exists(symbolsPath)) throw new UsageException($"--symbols: {symbolsPath}: no such file");
            try
            {
                symbols = SymbolFile.Load(symbolsPath, out problem);
            }
            catch (SymbolFileException e)
            {
                throw new UsageException($"--symbols: {e.Message}");
            }
            if (problem is not null) Console.Error.WriteLine($"vmft debug: warning: --symbols: {symbolsPath}: {problem}; no symbols");
            return symbols;
        }
        byte[]? image = header.Image;
        if (image is null)
        {
            try
            {
                image = GuestImages.Resolve(header.ImageName).Bytes;
            }
            catch (GuestImageException)
            {
                return ElfSymbols.Empty;
            }
            if (!RecordingHeader.HashImage(image).AsSpan().SequenceEqual(header.ImageSha256)) return ElfSymbols.Empty;
        }
        symbols = ElfSymbols.Parse(image, out problem);
        if (problem is not null) Console.Error.WriteLine($"vmft debug: warning: the recorded image {header.ImageName}: {problem}; no symbols");
        return symbols;
    }
}
