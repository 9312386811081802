namespace VmFt.Hypervisor.Bench;

/// <summary>
/// Where Guest/Images/linux/build.sh leaves the Linux guest (Debian's 686 kernel, the busybox
/// initramfs, System.map): $VMFT_LINUX_DIR, else $XDG_CACHE_HOME/vmft/linux, else ~/.cache/vmft/linux.
/// </summary>
public sealed record LinuxGuestImage(string Directory)
{
    /// <summary>The line /init prints once proc, sys and devtmpfs are mounted, before the shell starts.</summary>
    public const string Marker = "vmft-linux-ready";
    public const string BuildCommand = "Guest/Images/linux/build.sh";

    public string Kernel => Path.Combine(Directory, "vmlinuz");
    public string Initrd => Path.Combine(Directory, "initrd.gz");
    public string SystemMap => Path.Combine(Directory, "System.map");
    public string VersionFile => Path.Combine(Directory, "VERSION");

    public static LinuxGuestImage Default
    {
        get
        {
            string? dir = Environment.GetEnvironmentVariable("VMFT_LINUX_DIR");
            if (string.IsNullOrEmpty(dir))
            {
                string? cache = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
                if (string.IsNullOrEmpty(cache)) cache = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
                dir = Path.Combine(cache, "vmft", "linux");
            }
            return new LinuxGuestImage(dir);
        }
    }

    /// <summary>Null when the kernel and initrd are there, else one line saying what is missing and how to build it.</summary>
    public string? Problem =>
        File.Exists(Kernel) && File.Exists(Initrd) ? null
        : $"the Linux guest is not built ({(File.Exists(Kernel) ? Initrd : Kernel)} is missing): run {BuildCommand} (or set VMFT_LINUX_DIR to where it is)";

    /// <summary>The package versions build.sh wrote down, one line each; empty when unknown.</summary>
    public IReadOnlyList<string> Versions => File.Exists(VersionFile) ? File.ReadAllLines(VersionFile) : [];
}
