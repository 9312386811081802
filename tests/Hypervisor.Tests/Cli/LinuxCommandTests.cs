using System.Buffers.Binary;
using Xunit;

namespace VmFt.Hypervisor.Tests.Cli;

/// <summary>
/// <c>vmft run</c> and <c>record</c>/<c>replay</c> with a tiny bzImage whose "kernel" adds the first
/// byte of its command line to the first byte of its initrd and exits with that: the command line
/// picks the Linux loader from the image, and wrong input is one line and exit 2.
/// </summary>
public sealed class LinuxCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("vmft-linux-cli-").FullName;
    private string Kernel => Path.Combine(_dir, "bzImage");
    private string Initrd => Path.Combine(_dir, "initrd");

    public LinuxCommandTests()
    {
        File.WriteAllBytes(Kernel, TinyBzImage(0x020F));
        File.WriteAllBytes(Initrd, [0x02, 0x55, 0x66]);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>mov eax,[esi+0x218]; mov bl,[eax]; mov eax,[esi+0x228]; mov al,[eax]; add al,bl; out 0xF4,al; hlt</summary>
    private static byte[] TinyBzImage(ushort version)
    {
        byte[] code = [0x8B, 0x86, 0x18, 0x02, 0, 0, 0x8A, 0x18, 0x8B, 0x86, 0x28, 0x02, 0, 0, 0x8A, 0x00, 0x00, 0xD8, 0xE6, 0xF4, 0xF4];
        var b = new byte[5 * 512 + 64];
        var s = b.AsSpan();
        b[0x1F1] = 4;
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x1F4..], 4);   // syssize: 64 bytes
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x1FE..], 0xAA55);
        b[0x200] = 0xEB;
        b[0x201] = 0x6A;
        "HdrS"u8.CopyTo(s[0x202..]);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x206..], version);
        b[0x211] = 0x01;
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x214..], 0x100000);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x22C..], 0x7FFF_FFFF);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x238..], 255);
        code.CopyTo(b, 5 * 512);
        return b;
    }

    [Fact]
    public void RunBootsABzImageWithItsInitrdAndCommandLine()
    {
        var (exit, _, stderr) = VmftProcess.Run("", "run", Kernel, "--initrd", Initrd, "--append", "A", "--clock", "virtual");
        Assert.True(exit == ((0x41 + 0x02) << 1 | 1), stderr);
        // --cmdline is the same option.
        Assert.Equal((0x42 + 0x02) << 1 | 1, VmftProcess.Run("", "run", Kernel, "--initrd", Initrd, "--cmdline", "B", "--clock", "virtual").Exit);
    }

    [Fact]
    public void ARecordingHoldsTheInitrdAndReplays()
    {
        string rec = Path.Combine(_dir, "run.vmrec");
        var (exit, _, _) = VmftProcess.Run("", "record", Kernel, "--initrd", Initrd, "--append", "A", "--clock", "virtual", "-o", rec);
        Assert.Equal((0x41 + 0x02) << 1 | 1, exit);
        File.Delete(Initrd);   // embedded: the replay does not need the file
        var replay = VmftProcess.Run("", "replay", rec);
        Assert.True(replay.Exit == 0, replay.Stderr);
        Assert.Contains("replay OK", replay.Stdout);
    }

    [Fact]
    public void ARecordingWithoutItsInitrdNeedsTheSameFile()
    {
        string rec = Path.Combine(_dir, "thin.vmrec");
        VmftProcess.Run("", "record", Kernel, "--initrd", Initrd, "--append", "A", "--clock", "virtual", "--no-embed-image", "-o", rec);
        Assert.Equal(0, VmftProcess.Run("", "replay", rec).Exit);
        File.WriteAllBytes(Initrd, [0x03]);
        var (exit, _, stderr) = VmftProcess.Run("", "replay", rec);
        Assert.Equal(2, exit);
        Assert.Contains($"the initrd '{Initrd}' differs from the one recorded (SHA-256 mismatch)", Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }

    [Theory]
    [InlineData("old-protocol", "boot protocol 2.01 is older than 2.02")]
    [InlineData("initrd-for-multiboot", "an initrd is for a Linux kernel, and hello is not one")]
    [InlineData("missing-initrd", "no such file (--initrd)")]
    [InlineData("initrd-too-big", "do not fit between the kernel")]
    [InlineData("kernel-too-big", "the kernel does not fit")]
    [InlineData("initrd-without-kernel", "--initrd: needs a kernel image")]
    public void WrongLinuxInputIsOneLineAndExitCode2(string what, string expected)
    {
        string old = Path.Combine(_dir, "old");
        File.WriteAllBytes(old, TinyBzImage(0x0201));
        string big = Path.Combine(_dir, "big");
        File.WriteAllBytes(big, new byte[3 << 20]);
        string[] args = what switch
        {
            "old-protocol" => ["run", old],
            "initrd-for-multiboot" => ["run", "hello", "--initrd", Initrd],
            "missing-initrd" => ["run", Kernel, "--initrd", Path.Combine(_dir, "nope")],
            "initrd-too-big" => ["run", Kernel, "--initrd", big, "--mem", "2M"],
            "kernel-too-big" => ["run", Kernel, "--mem", "1M"],
            _ => ["run", "--initrd", Initrd, "--rom", old],
        };
        var (exit, stdout, stderr) = VmftProcess.Run("", args);
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        Assert.Contains(expected, Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }
}
