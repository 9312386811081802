using System.CommandLine;
using System.Globalization;
using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.Images;
using VmFt.Hypervisor.Live;
using VmFt.Hypervisor.Recording;
using VmFt.Hypervisor.Storage;
using VmFt.ReplayLog;

namespace VmFt.Hypervisor.Cli;

/// <summary>A parsed <c>--disk</c>: the file, read-only, and (FT nodes) whether each node has its own copy.</summary>
public sealed record DiskSpec(string Path, bool ReadOnly, bool NonShared);

/// <summary>What <c>--net tap,ifname=NAME[,mac=MAC][,netns=NS]</c> said: the TAP, the card, and the namespace the TAP is in (null: vmft's own).</summary>
public sealed record NetSpec(string InterfaceName, NetworkConfiguration Card, string? Namespace);

/// <summary>The options every command that builds a machine shares, and building the machine from them.</summary>
public sealed class MachineOptions
{
    public Argument<string?> Image { get; } = new("image")
    {
        Description = "a Linux bzImage or a Multiboot kernel (ELF or a.out kludge), or the name of a bundled guest: " + string.Join(", ", BundledImages.Names),
        Arity = ArgumentArity.ZeroOrOne,
    };
    public Option<string> Mem { get; } = new("--mem", "-m") { Description = "guest RAM (e.g. 64M)", DefaultValueFactory = _ => "64M" };
    public Option<string> Cmdline { get; } = new("--cmdline", "--append") { Description = "the kernel command line", DefaultValueFactory = _ => "" };
    public Option<string?> Initrd { get; } = new("--initrd") { Description = "an initial RAM disk for a Linux kernel (as QEMU's -initrd)" };
    public Option<string> Clock { get; } = new("--clock") { Description = "virtual (time follows the instruction count: reproducible) or realtime (time follows the host clock)", DefaultValueFactory = _ => "realtime" };
    public Option<string?> Rom { get; } = new("--rom") { Description = "a ROM image mapped below 1 MiB and at 4 GiB, started at the reset vector" };
    public Option<string?> Disk { get; } = new("--disk") { Description = "a raw disk image as the guest's virtio-blk disk (/dev/vda); FILE,readonly for a read-only disk; on FT nodes FILE,nonshared when each node has its own copy" };
    public Option<string?> Net { get; } = new("--net")
    {
        Description = "a virtio-net card (eth0) on a TAP interface: tap,ifname=NAME[,mac=52:54:00:12:34:56][,netns=NS] (needs CAP_NET_ADMIN, or a persistent TAP owned by the user; netns=NS: the TAP in that network namespace, which needs CAP_SYS_ADMIN too)",
    };
    public Option<string?> FromRecording { get; } = new("--from-recording")
    {
        Description = "start where this recording ends (its machine, replayed to its last position; e.g. a Linux boot recorded once in virtual time with --until-output) instead of from an image",
    };
    public Option<string> Core { get; } = CoreOption.Create();
    public Option<ulong> MaxInstructions { get; } = new("--max-instructions") { Description = "stop after this many instructions (0: no limit)", DefaultValueFactory = _ => 0UL };

    /// <param name="resumable">Whether the command can also start from a recording's end (<see cref="FromRecording"/>).</param>
    /// <param name="network">Whether the command runs the guest alone, so that it can plug a card into a TAP itself (<see cref="Net"/>).</param>
    public void AddTo(Command command, bool resumable = false, bool network = false)
    {
        command.Arguments.Add(Image);
        command.Options.Add(Mem);
        command.Options.Add(Cmdline);
        command.Options.Add(Initrd);
        command.Options.Add(Clock);
        command.Options.Add(Rom);
        command.Options.Add(MaxInstructions);
        command.Options.Add(Disk);
        command.Options.Add(Core);
        if (resumable) command.Options.Add(FromRecording);
        if (network) command.Options.Add(Net);
    }

    /// <summary>Parses <c>tap,ifname=NAME[,mac=XX:XX:XX:XX:XX:XX]</c>.</summary>
    public static NetSpec ParseNet(string text)
    {
        var parts = text.Split(',');
        if (parts[0] != "tap") throw new UsageException($"--net: '{parts[0]}' in '{text}' is not a network backend (tap,ifname=NAME[,mac=ADDRESS][,netns=NS])");
        string? name = null, netns = null;
        var card = NetworkConfiguration.Default;
        foreach (string part in parts.Skip(1))
        {
            int eq = part.IndexOf('=');
            string key = eq < 0 ? part : part[..eq], value = eq < 0 ? "" : part[(eq + 1)..];
            switch (key)
            {
                case "ifname" when eq > 0:
                    name = value.Length > 0 ? value : throw new UsageException($"--net: '{text}' names no interface (tap,ifname=NAME)");
                    break;
                case "mac":
                    card = new NetworkConfiguration(ParseMac(value, text));
                    break;
                case "netns" when eq > 0:
                    netns = value.Length > 0 ? value : throw new UsageException($"--net: '{text}' names no network namespace (netns=NAME or netns=/proc/PID/ns/net)");
                    break;
                default:
                    throw new UsageException($"--net: '{part}' in '{text}' is not an option of a TAP network (ifname=NAME, mac=ADDRESS, netns=NS)");
            }
        }
        if (name is null) throw new UsageException($"--net: '{text}' names no interface (tap,ifname=NAME)");
        return new NetSpec(name, card, netns);
    }

    /// <summary>Opens the TAP a <c>--net</c> spec names (in its namespace, if it gives one); one-line errors.</summary>
    public static Network.TapDevice OpenTap(string spec)
    {
        var net = ParseNet(spec);
        return Network.TapDevice.Open(net.InterfaceName, $"--net {spec}", net.Namespace);
    }

    private static ulong ParseMac(string value, string text)
    {
        var bytes = value.Split(':');
        ulong mac = 0;
        if (bytes.Length != 6 || bytes.Any(b => b.Length != 2 || !byte.TryParse(b, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out _)))
            throw new UsageException($"--net: '{value}' in '{text}' is not a MAC address (six hex bytes: 52:54:00:12:34:56)");
        foreach (string b in bytes) mac = mac << 8 | byte.Parse(b, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        if ((mac >> 40 & 1) != 0) throw new UsageException($"--net: '{value}' in '{text}' is a multicast address; a card needs a unicast one (first byte even)");
        return mac;
    }

    /// <summary>
    /// Plugs the card of a machine <see cref="Build(ParseResult, out BootFiles?, out RawDiskFile?)"/> made into the TAP
    /// <see cref="Net"/> names, or null without <c>--net</c>; the caller owns the service's backend.
    /// </summary>
    public Network.NetworkService? OpenNetwork(ParseResult parse, PcMachine machine)
    {
        if (parse.GetResult(Net) is null || parse.GetValue(Net) is not { } spec) return null;
        ParseNet(spec);
        if (machine.Network is null) throw new UsageException("--net: the recording's machine has no network card to plug in");
        return new Network.NetworkService(machine, OpenTap(spec));
    }

    /// <summary>
    /// Parses <c>FILE[,readonly][,nonshared]</c>. <c>nonshared</c> (FT nodes only): each node has
    /// its own copy of the disk, and the backup performs the writes its replay completes.
    /// </summary>
    public static DiskSpec ParseDisk(string text)
    {
        var parts = text.Split(',');
        string path = parts[0];
        bool readOnly = false, nonShared = false;
        foreach (string flag in parts.Skip(1))
        {
            if (flag == "readonly" && !readOnly) readOnly = true;
            else if (flag == "nonshared" && !nonShared) nonShared = true;
            else throw new UsageException($"--disk: '{flag}' in '{text}' is not an option of a disk (FILE[,readonly][,nonshared], each once)");
        }
        if (path.Length == 0) throw new UsageException($"--disk: '{text}' names no file");
        return new DiskSpec(path, readOnly, nonShared);
    }

    /// <summary>What <c>--disk</c> said, if anything.</summary>
    public DiskSpec? DiskOf(ParseResult parse) => parse.GetValue(Disk) is { } text ? ParseDisk(text) : null;

    /// <summary>Whether <c>nonshared</c> may follow the disk file: only on the commands of FT nodes.</summary>
    public bool AllowsNonSharedDisk { get; init; }

    public static ClockMode ParseClock(string text) => text.ToLowerInvariant() switch
    {
        "virtual" => ClockMode.Virtual,
        "realtime" => ClockMode.Realtime,
        _ => throw new UsageException($"--clock: '{text}' is not a clock mode (virtual or realtime)"),
    };

    /// <summary>Builds the machine and loads the image or ROM; bad input becomes a <see cref="UsageException"/> or a <see cref="GuestImageException"/>.</summary>
    public PcMachine Build(ParseResult parse, out RawDiskFile? disk) => Build(parse, out _, out disk);

    /// <summary>
    /// Builds the machine, and says which kernel (and initrd) it loaded, if any, and which disk
    /// file it opened (the caller owns it and serves the guest's requests from it).
    /// </summary>
    public PcMachine Build(ParseResult parse, out BootFiles? files, out RawDiskFile? disk)
    {
        var core = CoreOption.Parse(parse.GetValue(Core));
        var machine = BuildMachine(parse, out files, out disk);
        machine.Cpu.Core = core;
        return machine;
    }

    private PcMachine BuildMachine(ParseResult parse, out BootFiles? files, out RawDiskFile? disk)
    {
        files = null;
        disk = null;
        string? image = parse.GetValue(Image);
        if (parse.GetResult(FromRecording) is not null && parse.GetValue(FromRecording) is { } recording)
        {
            if (image is not null || parse.GetValue(Initrd) is not null || parse.GetValue(Rom) is not null)
                throw new UsageException("--from-recording: the recording says which image, initrd and ROM; give none of them with it");
            if (!File.Exists(recording)) throw new UsageException($"--from-recording {recording}: no such file");
            var resumedDisk = OpenDisk(parse);
            try
            {
                var resumed = ResumedMachine.AtEnd(recording, out _, header => CheckResumedDisk(header, recording, resumedDisk, parse.GetValue(Disk)));
                disk = resumedDisk;
                return resumed;
            }
            catch
            {
                resumedDisk?.Dispose();
                throw;
            }
        }
        string? rom = parse.GetValue(Rom);
        string? initrdPath = parse.GetValue(Initrd);
        if (initrdPath is not null && image is null) throw new UsageException("--initrd: needs a kernel image to go with it");
        if (image is null && rom is null)
            throw new UsageException("no image: give a Multiboot kernel file, a bundled guest name (" + string.Join(", ", BundledImages.Names) + ") or --rom FILE");
        uint ram = SizeParser.ParseRam(parse.GetValue(Mem)!);
        var network = parse.GetResult(Net) is not null && parse.GetValue(Net) is { } netSpec ? ParseNet(netSpec).Card : null;
        disk = OpenDisk(parse);
        var machine = new PcMachine(new MachineConfiguration
        {
            RamSize = ram,
            Disk = disk is null ? null : new DiskConfiguration((ulong)disk.Length / DiskConfiguration.SectorSize, disk.ReadOnly),
            Network = network,
        });
        try
        {
            if (rom is not null)
            {
                var romBytes = GuestImages.ReadFile(rom, "--rom");
                var state = RomLoader.Load(machine.Memory, romBytes, rom);
                if (image is null) state.ApplyTo(machine.Cpu);
            }
            if (image is not null)
            {
                var (bytes, name) = GuestImages.Resolve(image);
                byte[]? initrd = initrdPath is null ? null : ReadInitrd(initrdPath);
                string commandLine = parse.GetValue(Cmdline) ?? "";
                machine.LoadKernel(bytes, name, new KernelOptions { CommandLine = commandLine, Initrd = initrd, InitrdName = initrdPath ?? "initrd" });
                files = new BootFiles(bytes, name, initrd, initrdPath, commandLine);
            }
        }
        catch (ImageLoadException e)
        {
            disk?.Dispose();
            throw new UsageException(e.Message);
        }
        catch
        {
            disk?.Dispose();
            throw;
        }
        return machine;
    }

    /// <summary>Opens the file <c>--disk</c> names, or null without it.</summary>
    private RawDiskFile? OpenDisk(ParseResult parse)
    {
        if (parse.GetValue(Disk) is not { } diskSpec) return null;
        var spec = ParseDisk(diskSpec);
        if (spec.NonShared && !AllowsNonSharedDisk) throw new UsageException($"--disk {diskSpec}: nonshared is for FT nodes (primary and backup), where each has its own copy");
        return RawDiskFile.Open(spec.Path, spec.ReadOnly);
    }

    /// <summary>
    /// A resumed machine keeps the recorded machine's disk: the same size and mode, and a file to
    /// serve it from (the recording holds what the guest read, not the disk).
    /// </summary>
    private static void CheckResumedDisk(ReplayLog.Recording.RecordingHeader header, string recording, RawDiskFile? disk, string? diskSpec)
    {
        ulong? sectors = disk is null ? null : (ulong)disk.Length / DiskConfiguration.SectorSize;
        if (header.DiskSectors is null && disk is not null)
            throw new UsageException($"--disk {diskSpec}: the machine recorded in {recording} has no disk");
        if (header.DiskSectors is { } recorded && disk is null)
            throw new UsageException($"--from-recording {recording}: the recorded machine has a disk ({header.DiskName}, {recorded} sectors): give a copy of it with --disk FILE");
        if (header.DiskSectors is { } want && sectors != want)
            throw new UsageException($"--disk {diskSpec}: {sectors} sectors, but the machine recorded in {recording} has a disk of {want}");
        if (disk is not null && disk.ReadOnly != header.DiskReadOnly)
            throw new UsageException($"--disk {diskSpec}: the machine recorded in {recording} has a {(header.DiskReadOnly ? "read-only" : "writable")} disk; give the same mode");
    }

    private static byte[] ReadInitrd(string path)
    {
        if (Directory.Exists(path)) throw new GuestImageException($"{path}: is a directory, not a file (--initrd)");
        if (!File.Exists(path)) throw new GuestImageException($"{path}: no such file (--initrd)");
        return GuestImages.ReadFile(path, "--initrd");
    }

    public static ushort ParsePort(string text)
    {
        string t = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? text[2..] : text;
        var style = t.Length != text.Length ? NumberStyles.HexNumber : NumberStyles.None;
        if (!ushort.TryParse(t, style, CultureInfo.InvariantCulture, out ushort port))
            throw new UsageException($"--trace-port: '{text}' is not a port number (0-65535, or 0x0-0xFFFF)");
        return port;
    }
}
