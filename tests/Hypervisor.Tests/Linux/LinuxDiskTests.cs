using VmFt.Guest.Machine;
using VmFt.Hypervisor.Recording;
using VmFt.Hypervisor.Replay;
using VmFt.ReplayLog.Events;
using Xunit;
using Xunit.Abstractions;

namespace VmFt.Hypervisor.Tests.Linux;

/// <summary>
/// Debian's kernel with the machine's virtio-blk disk (<see cref="LinuxDiskSession"/>, recorded
/// once): its own virtio_pci and virtio_blk drivers find the disk through PCI without ACPI, read
/// it whole, mount its ext4 filesystem, write through it and raw; the file on the host shows what
/// the guest wrote and e2fsck finds it clean; the recording replays with the disk file gone.
/// </summary>
[Collection(LinuxDiskSessionCollection.Name)]
public sealed class LinuxDiskTests(LinuxDiskSession session, ITestOutputHelper output)
{
    [Fact]
    public void LinuxFindsTheDiskAndReadsItWhole()
    {
        session.RequireImage();
        output.WriteLine($"session {session.Outcome!.Instructions} instructions in {session.Elapsed.TotalSeconds:F1} s; "
            + $"disk: {session.Disk!.Reads} reads ({session.Disk.BytesRead} bytes), {session.Disk.Writes} writes ({session.Disk.BytesWritten} bytes), {session.Disk.Flushes} flushes");
        Assert.Contains("pci 0000:00:03.0: [1af4:1042] type 00 class 0x018000", session.Output);
        Assert.Contains($"[vda] {LinuxDiskSession.DiskMiB * 2048} 512-byte logical blocks", session.Output);
        Assert.Contains($"{session.InitialMd5}  /dev/vda", session.Output);
        Assert.DoesNotContain("I/O error", session.Output);
        Assert.DoesNotContain("Kernel panic", session.Output);
        Assert.Equal(MachineExitReason.DeadHalt, session.Outcome.Reason);
    }

    [Fact]
    public void TheExt4FilesystemMountsReadsAndTakesAFileThatIsOnTheHostAfterwards()
    {
        session.RequireImage();
        Assert.Contains($"{LinuxDiskSession.HostText}\r\n", session.Output);
        Assert.Contains("\r\nMOUNT-42\r\n", session.Output);
        var (fsck, fsckText) = LinuxDiskSession.Tool("e2fsck", "-f", "-n", session.DiskPath);
        Assert.True(fsck == 0, "e2fsck -fn: " + fsckText);
        var (cat, text) = LinuxDiskSession.Tool("debugfs", "-R", "cat /new.txt", session.DiskPath);
        Assert.Equal(0, cat);
        Assert.StartsWith(LinuxDiskSession.GuestText + "\n", text);
    }

    [Fact]
    public void ARawWriteReachesTheFileAndReadsBackFromTheDisk()
    {
        session.RequireImage();
        Assert.Contains($"R={LinuxDiskSession.RawText}\r\n", session.Output);
        using var f = File.OpenRead(session.DiskPath);
        var sector = new byte[512];
        f.Position = LinuxDiskSession.RawSector * 512;
        f.ReadExactly(sector);
        Assert.Equal(LinuxDiskSession.RawText + "\n", System.Text.Encoding.ASCII.GetString(sector, 0, LinuxDiskSession.RawText.Length + 1));
        Assert.All(sector[(LinuxDiskSession.RawText.Length + 1)..], b => Assert.Equal(0, b));   // conv=sync pads with zeros
    }

    [Fact]
    public void TheRecordingReplaysWithoutTheDiskFile()
    {
        session.RequireImage();
        var contents = RecordingFile.Read(session.RecordingPath, allowTruncated: false);
        Assert.Equal((ulong)LinuxDiskSession.DiskMiB * 2048, contents.Header.DiskSectors);
        int reads = contents.Events.OfType<DiskReadEvent>().Count(), completions = contents.Events.OfType<DiskCompletionEvent>().Count();
        Assert.True(reads > 0 && completions > 0, $"{reads} disk reads and {completions} other completions in the log");
        // The replay never opens the disk: hide it.
        string hidden = session.DiskPath + ".hidden";
        File.Move(session.DiskPath, hidden);
        try
        {
            var replayer = new Replayer(RecordedMachine.Build(contents.Header, session.RecordingPath));
            replayer.Feed(contents.Events);
            var result = replayer.Result;
            int checkpoints = contents.Events.OfType<CheckpointEvent>().Count();
            output.WriteLine($"replayed {result.Position} instructions, {result.CheckpointsVerified} checkpoints, {reads} disk reads, {completions} completions");
            Assert.Equal(checkpoints, result.CheckpointsVerified);
            Assert.Equal(session.Outcome!.Instructions, result.Position);
            Assert.Equal(MachineExitReason.DeadHalt, result.ExitReason);
        }
        finally
        {
            File.Move(hidden, session.DiskPath);
        }
    }
}
