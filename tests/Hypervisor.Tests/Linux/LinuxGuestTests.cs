using VmFt.Guest.Machine;
using VmFt.Hypervisor.Cli;
using VmFt.Hypervisor.Recording;
using VmFt.Hypervisor.Replay;
using VmFt.ReplayLog.Events;
using Xunit;
using Xunit.Abstractions;

namespace VmFt.Hypervisor.Tests.Linux;

/// <summary>
/// Debian's unmodified i386 kernel on this machine (the session is recorded once, in
/// <see cref="LinuxSession"/>): it boots with nothing but console=ttyS0 to the initramfs's marker
/// and a shell, the shell answers, <c>poweroff -f</c> ends the run with the documented exit code,
/// and the recording replays with every checkpoint matching.
/// </summary>
[Collection(LinuxSessionCollection.Name)]
public sealed class LinuxGuestTests(LinuxSession session, ITestOutputHelper output)
{
    [Fact]
    public void The686KernelBootsToTheMarkerAndAShell()
    {
        session.RequireImage();
        output.WriteLine($"marker at {session.MarkerPosition} instructions; session {session.Outcome!.Instructions} instructions in {session.Elapsed.TotalSeconds:F1} s");
        Assert.True(session.MarkerPosition is not null, "no marker; the console said:\n" + Tail(session.Output));
        Assert.Contains("Linux version 6.1.", session.Output);
        Assert.Contains("Kernel command line: console=ttyS0\r\n", session.Output);
        Assert.Contains("BusyBox v1.", session.Output);
        Assert.Contains("~ # ", session.Output[session.Output.IndexOf(VmFt.Hypervisor.Bench.LinuxGuestImage.Marker, StringComparison.Ordinal)..]);
        // The platform as Linux found it: PCI mechanism #1 with the PC's bridges, the 16550As, the 8042, the RTC.
        Assert.Contains("PCI: Using configuration type 1 for base access", session.Output);
        Assert.Contains("pci 0000:00:00.0: [8086:1237] type 00 class 0x060000", session.Output);
        Assert.Contains("pci 0000:00:01.0: [8086:7000] type 00 class 0x060100", session.Output);
        Assert.Contains("ttyS0 at I/O 0x3f8 (irq = 4, base_baud = 115200) is a 16550A", session.Output);
        Assert.Contains("serio: i8042 KBD port at 0x60,0x64 irq 1", session.Output);
        Assert.Contains("rtc_cmos rtc_cmos: registered as rtc0", session.Output);
        Assert.DoesNotContain("FPU with FDIV bug", session.Output);   // the x87 divides as a Pentium II does, not as the first Pentium
        Assert.DoesNotContain("Kernel panic", session.Output);
        Assert.DoesNotContain("BUG:", session.Output);
    }

    [Fact]
    public void AShellCommandsOutputComesBack()
    {
        session.RequireImage();
        Assert.Contains("echo $((6*7))\r\n42\r\n", session.Output);
    }

    [Fact]
    public void PoweroffEndsTheRunAsAHaltWithInterruptsOff()
    {
        session.RequireImage();
        Assert.Contains("reboot: System halted", session.Output);
        Assert.Equal(MachineExitReason.DeadHalt, session.Outcome!.Reason);
        Assert.Equal(RunCommand.DeadHaltExit, session.ExitCode);
    }

    [Fact]
    public void TheRecordingReplaysWithEveryCheckpointMatching()
    {
        session.RequireImage();
        var contents = RecordingFile.Read(session.RecordingPath, allowTruncated: false);
        Assert.NotNull(contents.Header.Initrd);
        Assert.Equal(LinuxSession.CommandLine, contents.Header.KernelCommandLine);
        var replayer = new Replayer(RecordedMachine.Build(contents.Header, session.RecordingPath));
        replayer.Feed(contents.Events);
        var result = replayer.Result;
        int checkpoints = contents.Events.OfType<CheckpointEvent>().Count();
        output.WriteLine($"replayed {result.Position} instructions, {result.CheckpointsVerified} checkpoints, {result.EventsApplied} events");
        Assert.True(checkpoints >= 10, $"only {checkpoints} checkpoints");
        Assert.Equal(checkpoints, result.CheckpointsVerified);
        Assert.Equal(session.Outcome!.Instructions, result.Position);
        Assert.Equal(MachineExitReason.DeadHalt, result.ExitReason);
        Assert.True(contents.Events.OfType<SerialInputEvent>().Any(), "the typed commands are in the log");
    }

    private static string Tail(string s) => s.Length <= 2000 ? s : s[^2000..];
}
