using System.Buffers.Binary;
using System.Text;
using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Memory;

namespace VmFt.Fuzz.Targets;

/// <summary>
/// A Multiboot kernel file (ELF32 or a.out kludge): <see cref="MultibootLoader.Load"/> without and
/// with a boot module, then the boot information structure is read back from guest memory as the
/// kernel would: it must say what the loader was given, and nothing loaded after it may have
/// overwritten the module.
/// </summary>
public sealed class MultibootTarget : FuzzTarget
{
    private const string CommandLine = "fuzz cmdline";
    private static readonly MultibootModule Module = new("module0", Enumerable.Repeat((byte)0x5A, 0x11000).ToArray(), "mod0");
    private readonly PhysicalMemory _memory = new(8u << 20);

    public override string Name => "multiboot";

    public override string Description => "Multiboot kernel (ELF / a.out kludge): MultibootLoader, boot information checked in memory";

    public override void Run(ReadOnlySpan<byte> input)
    {
        MultibootLoader.Load(_memory, input, "fuzz.elf", new MultibootOptions { CommandLine = CommandLine });
        var boot = MultibootLoader.Load(_memory, input, "fuzz.elf", new MultibootOptions { CommandLine = CommandLine, Modules = [Module] });
        Check(boot);
    }

    private void Check(MultibootBoot boot)
    {
        var ram = _memory.Ram;
        uint info = boot.InfoAddress;
        if ((ulong)info + 120 > (ulong)ram.Length) throw new InvariantException($"information structure at 0x{info:X} runs past RAM");
        if (boot.Modules.Count != 1) throw new InvariantException($"{boot.Modules.Count} modules placed, 1 given");
        var m = boot.Modules[0];
        if (m.End - m.Start != Module.Data.Length || m.End > ram.Length) throw new InvariantException($"module placed at [0x{m.Start:X}, 0x{m.End:X})");
        if (!ram.AsSpan((int)m.Start, Module.Data.Length).SequenceEqual(Module.Data))
            throw new InvariantException($"the module at [0x{m.Start:X}, 0x{m.End:X}) was overwritten (information structure at 0x{info:X})");
        if (U32(ram, info + 20) != 1 || U32(ram, U32(ram, info + 24)) != m.Start || U32(ram, U32(ram, info + 24) + 4) != m.End)
            throw new InvariantException($"the information structure at 0x{info:X} does not list the module at 0x{m.Start:X}");
        if (CString(ram, U32(ram, info + 16)) != CommandLine)
            throw new InvariantException($"the command line the information structure at 0x{info:X} points to reads '{CString(ram, U32(ram, info + 16))}'");
    }

    private static uint U32(byte[] ram, uint at) => at <= ram.Length - 4
        ? BinaryPrimitives.ReadUInt32LittleEndian(ram.AsSpan((int)at))
        : throw new InvariantException($"the information structure points outside RAM (0x{at:X})");

    private static string CString(byte[] ram, uint at)
    {
        if (at >= ram.Length) return "(outside RAM)";
        var rest = ram.AsSpan((int)at, Math.Min(256, ram.Length - (int)at));
        int end = rest.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? rest : rest[..end]);
    }

    public override bool IsContract(Exception e) => e is ImageLoadException;

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        yield return ("hello-elf", BundledImages.Get("hello"));
        yield return ("elf-low", Elf(0x1000, 0x40, 0x2000, 0x1000));
        yield return ("elf-two-segments", Elf2());
        yield return ("kludge", Kludge());
    }

    private static void W32(byte[] b, int at, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), v);

    private static void Header(byte[] b, int at, uint flags)
    {
        W32(b, at, MultibootLoader.HeaderMagic);
        W32(b, at + 4, flags);
        W32(b, at + 8, unchecked(0u - MultibootLoader.HeaderMagic - flags));
    }

    /// <summary>An ELF32 i386 executable with one PT_LOAD segment holding a Multiboot header.</summary>
    private static byte[] Elf(uint paddr, int filesz, uint memsz, uint entry)
    {
        var b = new byte[0x60 + filesz];
        b[0] = 0x7F; b[1] = (byte)'E'; b[2] = (byte)'L'; b[3] = (byte)'F'; b[4] = 1; b[5] = 1; b[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(16), 2);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(18), 3);
        W32(b, 20, 1);
        W32(b, 24, entry);
        W32(b, 28, 52);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(40), 52);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(42), 32);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(44), 1);
        W32(b, 52, 1);
        W32(b, 56, 0x60);
        W32(b, 60, paddr);
        W32(b, 64, paddr);
        W32(b, 68, (uint)filesz);
        W32(b, 72, memsz);
        W32(b, 76, 7);
        Header(b, 0x60, 3);
        return b;
    }

    /// <summary>Two segments with a gap, the second above 1 MiB.</summary>
    private static byte[] Elf2()
    {
        var b = Elf(0x100000, 0x40, 0x1000, 0x100000);
        var two = new byte[b.Length + 32 + 0x20];
        b.AsSpan(0, 0x54).CopyTo(two);
        BinaryPrimitives.WriteUInt16LittleEndian(two.AsSpan(44), 2);
        W32(two, 28, 52);
        // Second program header at 84, segment bytes after both headers.
        W32(two, 56, 0x80);
        W32(two, 84, 1);
        W32(two, 88, 0xC0);
        W32(two, 92, 0x8000);
        W32(two, 96, 0x8000);
        W32(two, 100, 0x20);
        W32(two, 104, 0x4000);
        Header(two, 0x80, 3);
        return two;
    }

    /// <summary>An a.out-kludge kernel of 4 KiB loaded at 1 MiB with 8 KiB of bss.</summary>
    private static byte[] Kludge()
    {
        var b = new byte[0x1000];
        Header(b, 0x40, 0x0001_0003);
        W32(b, 0x4C, 0x100040);
        W32(b, 0x50, 0x100000);
        W32(b, 0x54, 0);
        W32(b, 0x58, 0x103000);
        W32(b, 0x5C, 0x100080);
        return b;
    }
}
