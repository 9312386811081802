using System.CommandLine;
using System.Net;
using Microsoft.Extensions.Logging;
using VmFt.Guest.Machine;
using VmFt.Guest.Processor;
using VmFt.Hypervisor.Serial;
using VmFt.Hypervisor.Live;
using VmFt.Hypervisor.Storage;

namespace VmFt.Hypervisor.Cli;

/// <summary><c>vmft run IMAGE</c>: runs a guest alone, as <c>qemu-system-i386 -kernel</c> does.</summary>
public static class RunCommand
{
    /// <summary>Exit codes for ends that are not the guest's own (guest statuses are always odd).</summary>
    public const int TripleFaultExit = 4, DeadHaltExit = 6, ResetExit = 8, LimitExit = 10;

    /// <summary>Exit code after Ctrl-A x on the terminal: 0, as QEMU's (the user ended the run on purpose).</summary>
    public const int QuitExit = 0;

    public static Command Create()
    {
        var options = new MachineOptions();
        var serial = new Option<string>("--serial") { Description = "stdio (a terminal in raw mode: Ctrl-A x quits, Ctrl-A h helps), stdio,line (the terminal's own line editing and echo, for line-protocol guests such as kvstore), or tcp:HOST:PORT[,wait] (listen for one client; wait: start the guest only once it is connected)", DefaultValueFactory = _ => "stdio" };
        var tracePorts = new Option<string[]>("--trace-port") { Description = "print every write to this port on stderr (repeatable)", AllowMultipleArgumentsPerToken = false };
        var command = new Command("run", "Run a guest image alone (no fault tolerance)");
        options.AddTo(command, resumable: true, network: true);
        command.Options.Add(serial);
        command.Options.Add(tracePorts);
        command.SetAction(parse => CliErrors.Guard("run", () =>
        {
            var clock = MachineOptions.ParseClock(parse.GetValue(options.Clock)!);
            var traced = (parse.GetValue(tracePorts) ?? []).Select(MachineOptions.ParsePort).ToHashSet();
            using var logging = CliLogging.Create(parse, statusOnStdout: false); // stdout is the guest's console
            using var backend = OpenSerial(parse.GetValue(serial)!, logging);
            var machine = options.Build(parse, out var diskFile);
            using var disk = diskFile;
            var network = options.OpenNetwork(parse, machine);
            using var tap = network?.Backend;
            var machineLog = logging.CreateLogger(ShellLog.MachineCategory);
            machine.Log = line => ShellLog.MachineDiagnostic(machineLog, line);
            if (traced.Count > 0)
                machine.PortWriteObserver = (port, size, value) =>
                {
                    if (traced.Contains(port)) Console.Error.WriteLine($"port 0x{port:X4} <- 0x{value.ToString(size == 1 ? "X2" : size == 2 ? "X4" : "X8")}");
                };
            machine.DebugConsoleOutput = b => Console.Error.Write((char)b);
            var quit = QuitToken(backend);
            var outcome = new LiveRunner(machine, clock, backend) { Disk = disk is null ? null : new DiskService(machine.Disk!, disk), Network = network }
                .Run(parse.GetValue(options.MaxInstructions), quit);
            return quit.IsCancellationRequested ? Quit(backend) : Report(machine, outcome);
        }));
        return command;
    }

    public static ISerialBackend OpenSerial(string spec, ILoggerFactory logging)
    {
        if (spec == "stdio") return new StdioSerialBackend();
        if (spec == "stdio,line") return new StdioSerialBackend(lineMode: true);
        if (spec.StartsWith("tcp:", StringComparison.Ordinal))
        {
            string hostPort = spec[4..];
            bool wait = hostPort.EndsWith(",wait", StringComparison.Ordinal);
            if (wait) hostPort = hostPort[..^",wait".Length];
            int colon = hostPort.LastIndexOf(':');
            if (colon < 0 || !int.TryParse(hostPort[(colon + 1)..], out int port) || port is < 0 or > 65535)
                throw new UsageException($"--serial: '{spec}' is not tcp:HOST:PORT[,wait]");
            string host = hostPort[..colon];
            var address = host.Length == 0 ? IPAddress.Loopback
                : IPAddress.TryParse(host, out var a) ? a
                : host == "localhost" ? IPAddress.Loopback
                : throw new UsageException($"--serial: '{host}' is not an IP address");
            TcpSerialBackend backend;
            try
            {
                backend = new TcpSerialBackend(new IPEndPoint(address, port));
            }
            catch (System.Net.Sockets.SocketException e)
            {
                throw new UsageException($"--serial: cannot listen on {address}:{port}: {e.Message}");
            }
            // With port 0 this is the only way to learn the port.
            ShellLog.SerialListening(logging.CreateLogger(ShellLog.SerialCategory), backend.LocalEndPoint, wait ? ", waiting for a client" : "");
            if (wait) backend.WaitForClient();
            return backend;
        }
        throw new UsageException($"--serial: '{spec}' is not a serial backend (stdio, stdio,line or tcp:HOST:PORT[,wait])");
    }

    /// <summary>Cancelled by Ctrl-A x on a terminal console (never for other backends).</summary>
    public static CancellationToken QuitToken(ISerialBackend backend) =>
        backend is StdioSerialBackend stdio ? stdio.Terminal.QuitRequested : CancellationToken.None;

    /// <summary>The run ended by Ctrl-A x: the terminal gets its settings back before the line that says so.</summary>
    public static int Quit(ISerialBackend backend)
    {
        backend.Flush();
        if (backend is StdioSerialBackend stdio) stdio.Terminal.RestoreTerminal();
        Console.Error.WriteLine("vmft: terminated (Ctrl-A x)");
        return QuitExit;
    }

    /// <summary>Prints how the run ended (a diagnostic for abnormal ends) and returns the exit code.</summary>
    public static int Report(PcMachine machine, RunOutcome outcome)
    {
        switch (outcome.Reason)
        {
            case MachineExitReason.DebugExit:
                return outcome.GuestStatus ?? 0;
            case MachineExitReason.TripleFault:
                Diagnose(machine, "the guest triple-faulted (processor shutdown)");
                return TripleFaultExit;
            case MachineExitReason.DeadHalt:
                Diagnose(machine, "the guest halted with interrupts disabled: nothing can wake it");
                return DeadHaltExit;
            case MachineExitReason.ResetRequested:
                Console.Error.WriteLine("vmft: the guest requested a reset; stopping (as QEMU's -no-reboot)");
                return ResetExit;
            default:
                if (outcome.InstructionLimitReached)
                {
                    Console.Error.WriteLine($"vmft: stopped at the instruction limit ({outcome.Instructions} instructions)");
                    return LimitExit;
                }
                return 0;
        }
    }

    private static void Diagnose(PcMachine machine, string what)
    {
        var c = machine.Cpu;
        var e = Console.Error;
        e.WriteLine($"vmft: {what} at position {c.Position}");
        e.WriteLine($"  EAX={c.Eax:X8} EBX={c.Ebx:X8} ECX={c.Ecx:X8} EDX={c.Edx:X8} ESI={c.Esi:X8} EDI={c.Edi:X8} EBP={c.Ebp:X8} ESP={c.Esp:X8}");
        e.WriteLine($"  EIP={c.Eip:X8} EFLAGS={c.Eflags:X8} CPL={c.Cpl} CR0={c.Cr0:X8} CR2={c.Cr2:X8} CR3={c.Cr3:X8} CR4={c.Cr4:X8}");
        e.WriteLine($"  CS={c.GetSelector(SegmentRegister.CS):X4} DS={c.GetSelector(SegmentRegister.DS):X4} ES={c.GetSelector(SegmentRegister.ES):X4} SS={c.GetSelector(SegmentRegister.SS):X4} FS={c.GetSelector(SegmentRegister.FS):X4} GS={c.GetSelector(SegmentRegister.GS):X4}");
        foreach (var line in c.RecentInstructions())
            e.WriteLine($"  {line}");
    }
}
