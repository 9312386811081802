using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.Debugging;
using VmFt.Hypervisor.Debugging.Terminal;
using VmFt.Hypervisor.Live;
using VmFt.Hypervisor.Recording;
using VmFt.Hypervisor.Serial;
using VmFt.ReplayLog;
using VmFt.ReplayLog.Recording;

namespace VmFt.Hypervisor.Tests.Debugging;

/// <summary>Recordings of bundled guests (virtual time, so no host timing leaks in), made once per test class in a temp directory.</summary>
public sealed class DebugRecordings : IDisposable
{
    private readonly string _dir = System.IO.Directory.CreateTempSubdirectory("vmft-debug-").FullName;
    private readonly Dictionary<string, string> _paths = [];
    private readonly Lock _lock = new();

    public string Directory => _dir;

    public void Dispose() => System.IO.Directory.Delete(_dir, recursive: true);

    /// <summary>Serial input given to the guest all at once; the guest reads it when it is ready.</summary>
    private sealed class ScriptedInput : QueuedSerialBackend
    {
        public ScriptedInput(string input)
        {
            Enqueue(System.Text.Encoding.ASCII.GetBytes(input));
            CloseInput();
        }

        public override void Write(byte value) { }
        public override void Flush() { }
    }

    /// <summary>The path of a self-contained recording of <paramref name="guest"/> run to its exit, fed <paramref name="input"/> on its serial line.</summary>
    public string PathOf(string guest, string? input = null)
    {
        lock (_lock)
        {
            string key = input is null ? guest : $"{guest}-{(uint)input.GetHashCode():x8}";
            if (_paths.TryGetValue(key, out var known)) return known;
            string path = Path.Combine(_dir, key + ".vmrec");
            byte[] image = BundledImages.Get(guest);
            var machine = new PcMachine(new MachineConfiguration { RamSize = 16u << 20 });
            machine.LoadMultiboot(image, guest, new MultibootOptions());
            var header = RecordedMachine.HeaderFor(machine, ClockMode.Virtual, guest, image, "", embedImage: true);
            var writer = RecordingWriter.Create(path, header);
            using var serial = input is null ? null : new ScriptedInput(input);
            var outcome = new LiveRunner(machine, ClockMode.Virtual, serial, new RecordingSink(writer)) { CheckpointInterval = 100_000 }.Run(2_000_000_000);
            writer.CompleteAsync().AsTask().GetAwaiter().GetResult();
            if (outcome.Reason != MachineExitReason.DebugExit) throw new InvalidOperationException($"{guest} ended with {outcome.Reason}");
            _paths[key] = path;
            return path;
        }
    }

    public ReplaySession Open(string guest, string? input = null) => ReplaySession.Open(PathOf(guest, input));

    public static ElfSymbols SymbolsOf(string guest)
    {
        var symbols = ElfSymbols.Parse(BundledImages.Get(guest), out string? problem);
        if (problem is not null) throw new InvalidOperationException(problem);
        return symbols;
    }
}

/// <summary>An interpreter over a session whose output each command returns separately.</summary>
internal sealed class ScriptedDebugger
{
    private readonly StringWriter _out = new();

    public ScriptedDebugger(ReplaySession session, ElfSymbols symbols)
    {
        Session = session;
        Symbols = symbols;
        Interpreter = new DebugInterpreter(session, symbols, _out);
    }

    public ReplaySession Session { get; }
    public ElfSymbols Symbols { get; }
    public DebugInterpreter Interpreter { get; }

    /// <summary>Runs one command line and returns what it printed.</summary>
    public string Do(string command)
    {
        _out.GetStringBuilder().Clear();
        bool more = Interpreter.Execute(command);
        if (!more) throw new InvalidOperationException($"'{command}' quit");
        return _out.ToString();
    }

    public static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
