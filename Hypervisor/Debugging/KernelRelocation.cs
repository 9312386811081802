using System.Buffers.Binary;

namespace VmFt.Hypervisor.Debugging;

/// <summary>
/// How far a running Linux kernel is from its System.map: Debian's kernel relocates itself at boot
/// (KASLR; in virtual time the choice is reproducible, in real time it changes from boot to boot),
/// and every symbol moves by the same offset. The interrupt table says by how much: wherever the
/// kernel maps it (early: idt_table; later: a read-only alias in the CPU entry area), gate 0 holds
/// the divide-error handler, a code address of the kernel itself: <c>asm_exc_divide_error</c> once
/// the traps are set up, <c>early_idt_handler_array</c> before.
/// </summary>
public static class KernelRelocation
{
    private const uint PagingEnabled = 0x8000_0000;
    /// <summary>The least alignment an x86 kernel is placed at (CONFIG_PHYSICAL_ALIGN's minimum).</summary>
    public const uint Alignment = 0x20_0000;
    private static readonly string[] DivideErrorHandlers = ["asm_exc_divide_error", "early_idt_handler_array"];

    /// <summary>The offset and the handler it was found by; null and a reason when the state at this position cannot tell.</summary>
    public static (uint Offset, string Handler)? Find(ReplaySession session, ElfSymbols symbols, out string? why)
    {
        var cpu = session.Cpu;
        if (!DivideErrorHandlers.Any(n => symbols.TryGetAddress(n, out _)))
        {
            why = "the symbols name no Linux divide-error handler (give a Linux System.map with --symbols)";
            return null;
        }
        var (idtBase, limit) = cpu.Idtr;
        Span<byte> gate = stackalloc byte[8];
        if ((cpu.Cr0 & PagingEnabled) == 0 || limit < 7 || !session.ReadMemory(idtBase, gate))
        {
            why = $"at position {session.Position} the kernel has not set up its interrupt table yet (IDTR {idtBase:X8}, paging {((cpu.Cr0 & PagingEnabled) == 0 ? "off" : "on")}); ask later in the boot (goto end)";
            return null;
        }
        uint handler = BinaryPrimitives.ReadUInt16LittleEndian(gate) | (uint)BinaryPrimitives.ReadUInt16LittleEndian(gate[6..]) << 16;
        foreach (string name in DivideErrorHandlers)
        {
            if (!symbols.TryGetAddress(name, out uint linked)) continue;
            uint offset = unchecked(handler - linked);
            if (offset % Alignment == 0)
            {
                why = null;
                return (offset, name);
            }
        }
        why = $"the divide-error gate points to {handler:X8}, which is no handler of these symbols at any kernel alignment (another kernel's System.map?)";
        return null;
    }
}
