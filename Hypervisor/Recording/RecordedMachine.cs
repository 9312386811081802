using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Guest.Memory;
using VmFt.Hypervisor.Images;
using VmFt.ReplayLog;
using VmFt.ReplayLog.Recording;

namespace VmFt.Hypervisor.Recording;

/// <summary>Between a machine and a recording's header: what to write down, and how to build the same machine again.</summary>
public static class RecordedMachine
{
    public static RecordingHeader HeaderFor(PcMachine machine, ClockMode clock, string imageName, byte[] image, string commandLine, bool embedImage,
        string? initrdName = null, byte[]? initrd = null, string? diskName = null)
    {
        var c = machine.Configuration;
        return new RecordingHeader
        {
            RamSize = c.RamSize,
            NanosecondsPerInstruction = c.NanosecondsPerInstruction,
            BootTimeUnixNanoseconds = (c.BootTime.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100,
            TscHz = c.TscHz,
            ClockMode = clock,
            ImageName = imageName,
            ImageSha256 = RecordingHeader.HashImage(image),
            Image = embedImage ? image : null,
            KernelCommandLine = commandLine,
            InitrdName = initrd is null ? null : initrdName ?? "initrd",
            InitrdSha256 = initrd is null ? null : RecordingHeader.HashImage(initrd),
            Initrd = embedImage ? initrd : null,
            DiskSectors = c.Disk?.SectorCount,
            DiskReadOnly = c.Disk?.ReadOnly ?? false,
            DiskName = c.Disk is null ? null : diskName ?? "disk",
            NetworkMac = c.Network?.MacBytes(),
        };
    }

    /// <summary>
    /// A fresh machine in the recorded run's initial state. The image comes from the recording
    /// itself, or else from the path or bundled name it was recorded under, and must match the hash;
    /// so does the initrd.
    /// </summary>
    /// <exception cref="RecordingFormatException">The header describes a machine this build cannot make.</exception>
    /// <exception cref="GuestImageException">The image cannot be found, differs from the recorded one, or does not load.</exception>
    public static PcMachine Build(RecordingHeader header, string recordingPath)
    {
        if (header.DiskSectors is 0 or > 1UL << 40)
            throw new RecordingFormatException($"{recordingPath}: the recording's disk of {header.DiskSectors} sectors is not one this machine supports");
        if (header.RamSize is < 1 << 20 or > 3UL << 30 || header.RamSize % PhysicalMemory.PageSize != 0)
            throw new RecordingFormatException($"{recordingPath}: the recording's RAM size {header.RamSize} is not one this machine supports (1 MiB to 3 GiB, in whole 4 KiB pages)");
        // Guest time is position * this; the timers divide by it.
        if (header.NanosecondsPerInstruction == 0)
            throw new RecordingFormatException($"{recordingPath}: the recording's clock has 0 ns per instruction: guest time could never advance");
        byte[] image = header.Image ?? GuestImages.Resolve(header.ImageName).Bytes;
        if (!RecordingHeader.HashImage(image).AsSpan().SequenceEqual(header.ImageSha256))
            throw new GuestImageException($"{recordingPath}: the image '{header.ImageName}' differs from the one recorded (SHA-256 mismatch)");
        byte[]? initrd = null;
        if (header.InitrdName is { } initrdName)
        {
            initrd = header.Initrd ?? ReadInitrd(initrdName, recordingPath);
            if (!RecordingHeader.HashImage(initrd).AsSpan().SequenceEqual(header.InitrdSha256))
                throw new GuestImageException($"{recordingPath}: the initrd '{initrdName}' differs from the one recorded (SHA-256 mismatch)");
        }
        var machine = new PcMachine(new MachineConfiguration
        {
            RamSize = (uint)header.RamSize,
            NanosecondsPerInstruction = header.NanosecondsPerInstruction,
            BootTime = DateTimeOffset.UnixEpoch.AddTicks(header.BootTimeUnixNanoseconds / 100),
            TscHz = header.TscHz,
            // The disk's size and mode only: every byte the guest read from it is in the log.
            Disk = header.DiskSectors is { } sectors ? new DiskConfiguration(sectors, header.DiskReadOnly) : null,
            // The card's address only: every frame the guest received is in the log.
            Network = header.NetworkMac is { } mac ? NetworkConfiguration.FromBytes(mac) : null,
        });
        try
        {
            machine.LoadKernel(image, header.ImageName, new KernelOptions { CommandLine = header.KernelCommandLine, Initrd = initrd, InitrdName = header.InitrdName ?? "initrd" });
        }
        catch (ImageLoadException e)
        {
            throw new GuestImageException($"{recordingPath}: {e.Message}", e);
        }
        return machine;
    }

    private static byte[] ReadInitrd(string path, string recordingPath)
    {
        if (!File.Exists(path)) throw new GuestImageException($"{recordingPath}: the initrd '{path}' is not embedded and no such file exists");
        return GuestImages.ReadFile(path, "the recorded initrd");
    }
}
