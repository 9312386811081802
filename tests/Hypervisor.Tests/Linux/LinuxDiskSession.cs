using System.Diagnostics;
using System.Security.Cryptography;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.Bench;
using VmFt.Hypervisor.Cli;
using VmFt.Hypervisor.Live;
using VmFt.Hypervisor.Recording;
using VmFt.Hypervisor.Storage;
using VmFt.ReplayLog;
using VmFt.ReplayLog.Recording;
using Xunit;

namespace VmFt.Hypervisor.Tests.Linux;

/// <summary>
/// One recorded Linux session with a disk, shared by the disk tests: a 9 MiB raw image made here,
/// an ext4 filesystem (mke2fs -d, no root needed) on its first 8 MiB holding hello.txt, and the
/// last MiB raw. At the shell the guest hashes the whole of /dev/vda, mounts the filesystem, reads
/// the file, writes another and syncs, writes a raw sector past the filesystem, drops its caches
/// and reads that sector back from the disk, then powers off.
/// </summary>
public sealed class LinuxDiskSession : IDisposable
{
    public const string CommandLine = "console=ttyS0";
    public const uint RamSize = 256u << 20;
    public const int DiskMiB = 9, FilesystemMiB = 8;
    public const long RawSector = 17_000;
    public const string HostText = "hello from the host", GuestText = "guest-wrote", RawText = "raw-sector-17000";
    private const ulong Limit = 20_000_000_000;

    public LinuxGuestImage Image { get; } = LinuxGuestImage.Default;
    public string? Problem { get; }
    public string Output => _console?.Output.ToString() ?? "";
    public RunOutcome? Outcome { get; }
    public int ExitCode { get; }
    public string Folder { get; } = Path.Combine(Path.GetTempPath(), $"vmft-linux-disk-{Environment.ProcessId}-{Guid.NewGuid():N}");
    public string DiskPath => Path.Combine(Folder, "disk.img");
    public string RecordingPath => Path.Combine(Folder, "run.vmrec");
    /// <summary>MD5 of the disk as made, before the guest touched it (hex, as md5sum prints it).</summary>
    public string InitialMd5 { get; } = "";
    public TimeSpan Elapsed { get; }
    public DiskService? Disk { get; }

    private readonly LinuxSession.ShellConsole? _console;

    public LinuxDiskSession()
    {
        Problem = Image.Problem;
        if (Problem is not null) return;
        Directory.CreateDirectory(Folder);
        Problem = MakeDisk();
        if (Problem is not null) return;
        InitialMd5 = Convert.ToHexStringLower(MD5.HashData(File.ReadAllBytes(DiskPath)));
        var wall = Stopwatch.StartNew();
        byte[] kernel = File.ReadAllBytes(Image.Kernel), initrd = File.ReadAllBytes(Image.Initrd);
        using var file = RawDiskFile.Open(DiskPath, readOnly: false);
        var machine = new PcMachine(new MachineConfiguration { RamSize = RamSize, Disk = new DiskConfiguration((ulong)file.Length / 512, false) });
        machine.LoadKernel(kernel, Image.Kernel, new KernelOptions { CommandLine = CommandLine, Initrd = initrd, InitrdName = Image.Initrd });
        var header = RecordedMachine.HeaderFor(machine, ClockMode.Virtual, Image.Kernel, kernel, CommandLine, embedImage: true, Image.Initrd, initrd, DiskPath);
        _console = new LinuxSession.ShellConsole(() => machine.Cpu.Position,
            "md5sum /dev/vda",
            $"mount -t ext4 /dev/vda /mnt && cat /mnt/hello.txt && echo {GuestText} > /mnt/new.txt && sync && umount /mnt && echo MOUNT-$((40+2))",
            $"echo {RawText} | dd of=/dev/vda bs=512 seek={RawSector} conv=sync 2>/dev/null && sync && echo 3 > /proc/sys/vm/drop_caches && echo R=$(dd if=/dev/vda bs=512 skip={RawSector} count=1 2>/dev/null | head -c 16)",
            "poweroff -f");
        var writer = RecordingWriter.Create(RecordingPath, header);
        Disk = new DiskService(machine.Disk!, file);
        var runner = new LiveRunner(machine, ClockMode.Virtual, _console, new RecordingSink(writer)) { CheckpointInterval = LinuxSession.CheckpointInterval, Disk = Disk };
        Outcome = runner.Run(Limit);
        writer.CompleteAsync().AsTask().GetAwaiter().GetResult();
        ExitCode = RunCommand.Report(machine, Outcome);
        Elapsed = wall.Elapsed;
    }

    private string? MakeDisk()
    {
        string content = Path.Combine(Folder, "content");
        Directory.CreateDirectory(content);
        File.WriteAllText(Path.Combine(content, "hello.txt"), HostText + "\n");
        using (var f = File.Create(DiskPath)) f.SetLength(DiskMiB << 20);
        var (code, text) = Tool("mke2fs", "-q", "-F", "-t", "ext4", "-d", content, DiskPath, $"{FilesystemMiB}M");
        return code == 0 ? null : $"mke2fs (Debian's e2fsprogs) could not make the test disk: {text}";
    }

    /// <summary>Runs an e2fsprogs tool: its exit code and its output on both streams.</summary>
    public static (int Code, string Output) Tool(string name, params string[] args)
    {
        var start = new ProcessStartInfo(File.Exists($"/usr/sbin/{name}") ? $"/usr/sbin/{name}" : name)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in args) start.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(start)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            string stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, stdout.Result + stderr);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, $"{name}: {e.Message}");
        }
    }

    public void RequireImage()
    {
        if (Problem is not null) Assert.Fail(Problem);
    }

    public void Dispose()
    {
        _console?.Dispose();
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

[CollectionDefinition(Name)]
public sealed class LinuxDiskSessionCollection : ICollectionFixture<LinuxDiskSession>
{
    public const string Name = "linux disk session";
}
