using VmFt.Guest.Memory;

namespace VmFt.Guest.Loaders;

/// <summary>
/// Loads a kernel the way QEMU's -kernel does: the image itself says which boot protocol applies.
/// A Linux setup header ("HdrS" at 0x202) means the Linux boot protocol; anything else must be a
/// Multiboot kernel.
/// </summary>
public static class KernelLoader
{
    /// <exception cref="ImageLoadException">The image or its initrd cannot be loaded (or an initrd is given to a kernel that takes none).</exception>
    public static LoadedKernel Load(PhysicalMemory memory, ReadOnlySpan<byte> image, string name, KernelOptions? options = null)
    {
        options ??= new KernelOptions();
        if (LinuxLoader.IsLinuxImage(image))
        {
            var linux = LinuxLoader.Load(memory, image, name, new LinuxBootOptions
            {
                CommandLine = options.CommandLine,
                Initrd = options.Initrd,
                InitrdName = options.InitrdName,
            });
            return new LoadedKernel(linux.State, linux, null);
        }
        if (options.Initrd is not null)
        {
            throw new ImageLoadException(options.InitrdName, null, "initrd",
                $"an initrd is for a Linux kernel, and {name} is not one (no Linux setup header: \"HdrS\" at offset 0x202)");
        }
        MultibootBoot multiboot;
        try
        {
            multiboot = MultibootLoader.Load(memory, image, name, new MultibootOptions { CommandLine = options.CommandLine });
        }
        catch (ImageLoadException e) when (e.Offset is null && e.Field == "multiboot header")
        {
            // Neither protocol's header: say both were looked for.
            throw new ImageLoadException(name, null, "kernel header",
                $"neither a Linux bzImage (no \"HdrS\" at offset 0x202) nor a Multiboot image (no header, magic 0x{MultibootLoader.HeaderMagic:X8}, in the first {MultibootLoader.HeaderSearchLength} bytes)");
        }
        return new LoadedKernel(multiboot.State, null, multiboot);
    }
}
