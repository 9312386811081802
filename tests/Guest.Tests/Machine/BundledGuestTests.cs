using System.Text;
using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Guest.Processor;

namespace VmFt.Guest.Tests.Machine;

/// <summary>The bundled guests boot and behave on the emulated PC, driven in virtual time.</summary>
public class BundledGuestTests
{
    /// <summary>Runs a bundled guest to its debug exit (or the limit), feeding <paramref name="input"/> on COM1 once it asks for it.</summary>
    internal static (MachineExitReason Reason, int? Status, string Serial, PcMachine Machine) RunGuest(
        string name, string input = "", string cmdline = "", ulong limit = 2_000_000_000,
        CpuCore core = CpuCore.Interpreter, List<ulong>? stateHashes = null)
    {
        var machine = new PcMachine(new MachineConfiguration());
        machine.Cpu.Core = core;
        var serial = new StringBuilder();
        machine.SerialOutput = b => serial.Append((char)b);
        machine.LoadMultiboot(BundledImages.Get(name), name, new MultibootOptions { CommandLine = cmdline });
        byte[] pending = Encoding.ASCII.GetBytes(input);
        int fed = 0;
        while (true)
        {
            if (fed < pending.Length) fed += machine.SerialInput(pending.AsSpan(fed));
            ulong stop = Math.Min(limit, machine.Cpu.Position + 100_000);
            var reason = machine.RunUntil(stop);
            stateHashes?.Add(machine.StateHash());
            if (reason == MachineExitReason.Idle)
            {
                if (!machine.SkipIdleTime()) return (reason, machine.ExitStatus, serial.ToString(), machine);
                continue;
            }
            if (reason != MachineExitReason.PositionReached || machine.Cpu.Position >= limit)
                return (reason, machine.ExitStatus, serial.ToString(), machine);
        }
    }

    [Fact]
    public void Hello_prints_and_exits_through_the_debug_exit_port()
    {
        var (reason, status, serial, _) = RunGuest("hello");
        Assert.Equal(MachineExitReason.DebugExit, reason);
        Assert.Equal(1, status); // wrote 0: (0 << 1) | 1
        Assert.Contains("Hello from the VmFt guest!", serial);
    }

    [Fact]
    public void Selftest_passes_every_check()
    {
        var (reason, status, serial, _) = RunGuest("selftest");
        Assert.Equal(MachineExitReason.DebugExit, reason);
        Assert.DoesNotContain("FAIL", serial);
        Assert.Contains("selftest done failures=0", serial);
        Assert.Equal(1, status);
        // Every check the guest knows about reported PASS.
        Assert.True(serial.Split('\n').Count(l => l.StartsWith("PASS ", StringComparison.Ordinal)) >= 19, serial);
    }

    [Fact]
    public void Cpubench_computes_the_host_checksum()
    {
        var (reason, status, serial, _) = RunGuest("cpubench", cmdline: "iterations=100");
        Assert.Equal(MachineExitReason.DebugExit, reason);
        Assert.Contains("checksum=0xc38a76ac", serial); // the same C code compiled for the host
        Assert.Contains("cpubench OK", serial);
        Assert.Equal(1, status);
    }

    [Fact]
    public void Kvstore_serves_requests_with_at_most_once_semantics()
    {
        const string session = "c1 1 PUT alpha one\nc1 2 GET alpha\nc1 2 GET alpha\nc1 1 GET alpha\nc2 1 INCR n\nc2 2 INCR n\nc1 3 DEL alpha\nc1 4 GET alpha\nSHUTDOWN\n";
        var (reason, status, serial, _) = RunGuest("kvstore", session);
        Assert.Equal(MachineExitReason.DebugExit, reason);
        Assert.Equal(1, status);
        string[] lines = serial.Replace("\r", "").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(
            ["kvstore ready", "c1 1 OK", "c1 2 VALUE one", "c1 2 VALUE one", "c1 1 ERR stale", "c2 1 VALUE 1", "c2 2 VALUE 2", "c1 3 OK", "c1 4 NOTFOUND"],
            lines);
    }

    [Fact]
    public void Virtual_time_runs_are_reproducible_to_the_state_hash()
    {
        var a = RunGuest("kvstore", "c1 1 STATS\n", limit: 30_000_000);
        var b = RunGuest("kvstore", "c1 1 STATS\n", limit: 30_000_000);
        Assert.Equal(a.Serial, b.Serial);
        Assert.Equal(a.Machine.Cpu.Position, b.Machine.Cpu.Position);
        Assert.Equal(a.Machine.Cpu.StateHash(0), b.Machine.Cpu.StateHash(0));
        Assert.Equal(a.Machine.Memory.Ram, b.Machine.Memory.Ram);
        Assert.Equal(a.Machine.StateHash(), b.Machine.StateHash());
        // The hash sees RAM: one flipped byte anywhere changes it.
        ulong before = b.Machine.StateHash();
        b.Machine.Memory.Ram[b.Machine.Memory.Ram.Length - 3] ^= 1;
        Assert.NotEqual(before, b.Machine.StateHash());
        Assert.Contains("uptime_ticks=", a.Serial);
    }
}
