using System.Buffers.Binary;
using System.Text;

namespace VmFt.Hypervisor.Debugging.Gdb;

/// <summary>Registers and memory: g/G, p/P, m/M/X.</summary>
public sealed partial class GdbCommandHandler
{
    private const int EFault = 0x14; // errno EFAULT, what gdbserver answers for memory it cannot touch

    private uint ReadRegister(int number)
    {
        var cpu = _session.Cpu;
        return number switch
        {
            < 8 => cpu.GetRegister(number),
            GdbTargetDescription.Eip => cpu.Eip,
            GdbTargetDescription.Eflags => cpu.Eflags,
            < GdbTargetDescription.FirstSt => cpu.GetSelector(GdbTargetDescription.SegmentOrder[number - GdbTargetDescription.FirstSegment]),
            // fctrl, fstat, ftag (the full 2-bit tag word, as gdb expects), fiseg, fioff, foseg, fooff, fop.
            24 => cpu.FpuControlWord,
            25 => cpu.FpuStatusWord,
            26 => cpu.FpuTagWord,
            27 => cpu.FpuInstructionPointer.Selector,
            28 => cpu.FpuInstructionPointer.Offset,
            29 => cpu.FpuDataPointer.Selector,
            30 => cpu.FpuDataPointer.Offset,
            _ => cpu.FpuOpcode,
        };
    }

    private string EncodeRegister(int number)
    {
        if (GdbTargetDescription.Size(number) == 4) return GdbHex.EncodeLittleEndian32(ReadRegister(number));
        Span<byte> st = stackalloc byte[10];
        _session.Cpu.GetFpuStack(number - GdbTargetDescription.FirstSt).WriteTo(st);
        return GdbHex.Encode(st);
    }

    private string ReadAllRegisters()
    {
        var sb = new StringBuilder(GdbTargetDescription.TotalSize * 2);
        for (int i = 0; i < GdbTargetDescription.Count; i++) sb.Append(EncodeRegister(i));
        return sb.ToString();
    }

    /// <summary>
    /// Sets one register from its target-order bytes. General registers, EIP, EFLAGS and the x87
    /// registers change; segment selectors can only be "written" with the value they already have
    /// (a selector load needs descriptor tables): anything else is refused.
    /// </summary>
    private bool WriteRegister(int number, ReadOnlySpan<byte> bytes, bool apply)
    {
        if (bytes.Length != GdbTargetDescription.Size(number)) return false;
        var cpu = _session.Cpu;
        if (number >= GdbTargetDescription.FirstSt && number < GdbTargetDescription.FirstFpControl)
        {
            var st = Guest.Processor.X87.Float80.ReadFrom(bytes);
            if (!apply || st == cpu.GetFpuStack(number - GdbTargetDescription.FirstSt)) return true;
            cpu.SetFpuStack(number - GdbTargetDescription.FirstSt, st);
            _session.MarkModified();
            return true;
        }
        uint value = BinaryPrimitives.ReadUInt32LittleEndian(bytes);
        if (number >= GdbTargetDescription.FirstFpControl)
        {
            // The 16-bit x87 registers (and the 11-bit opcode) take the low bits; fioff and fooff all 32.
            if (number is not (28 or 30) && value > (number == 31 ? 0x7FFu : 0xFFFFu)) return false;
            if (!apply || value == ReadRegister(number)) return true;
            switch (number)
            {
                case 24: cpu.FpuControlWord = (ushort)value; break;
                case 25: cpu.FpuStatusWord = (ushort)value; break;
                case 26: cpu.FpuTagWord = (ushort)value; break;
                case 27: cpu.FpuInstructionPointer = ((ushort)value, cpu.FpuInstructionPointer.Offset); break;
                case 28: cpu.FpuInstructionPointer = (cpu.FpuInstructionPointer.Selector, value); break;
                case 29: cpu.FpuDataPointer = ((ushort)value, cpu.FpuDataPointer.Offset); break;
                case 30: cpu.FpuDataPointer = (cpu.FpuDataPointer.Selector, value); break;
                default: cpu.FpuOpcode = (ushort)value; break;
            }
            _session.MarkModified();
            return true;
        }
        if (number >= GdbTargetDescription.FirstSegment) return value == ReadRegister(number);
        if (!apply || value == ReadRegister(number)) return true;
        if (number < 8) cpu.SetRegister(number, value);
        else if (number == GdbTargetDescription.Eip) cpu.Eip = value;
        else cpu.Eflags = value;
        _session.MarkModified();
        return true;
    }

    private byte[] WriteAllRegisters(string hex)
    {
        byte[]? bytes = GdbHex.Decode(hex);
        if (bytes is null || bytes.Length != GdbTargetDescription.TotalSize) return Error(1);
        // Check every register before changing any, so that a refused G changes nothing.
        for (int pass = 0; pass < 2; pass++)
        {
            int offset = 0;
            for (int i = 0; i < GdbTargetDescription.Count; i++)
            {
                int size = GdbTargetDescription.Size(i);
                if (!WriteRegister(i, bytes.AsSpan(offset, size), apply: pass == 1)) return Error(1);
                offset += size;
            }
        }
        return Ascii("OK");
    }

    private byte[] ReadOneRegister(string text)
    {
        if (!GdbHex.TryParseNumber(text, out ulong number)) return Error(1);
        if (number >= GdbTargetDescription.Count) return Error(1);
        return Ascii(EncodeRegister((int)number));
    }

    private byte[] WriteOneRegister(string text)
    {
        int equals = text.IndexOf('=');
        if (equals < 0 || !GdbHex.TryParseNumber(text.AsSpan(0, equals), out ulong number) || number >= GdbTargetDescription.Count)
            return Error(1);
        byte[]? bytes = GdbHex.Decode(text.AsSpan(equals + 1));
        if (bytes is null) return Error(1);
        return WriteRegister((int)number, bytes, apply: false) && WriteRegister((int)number, bytes, apply: true) ? Ascii("OK") : Error(1);
    }

    /// <summary>m addr,length: as many bytes as are readable from addr (gdb accepts a short read), E14 if none.</summary>
    private byte[] ReadMemoryPacket(string text)
    {
        var (address, length) = ParseAddressLength(text);
        if (length > MaxTransfer || address > uint.MaxValue || address + length > 1UL << 32) return Error(1);
        if (length == 0) return Empty;
        var buffer = new byte[length];
        if (_session.ReadMemory((uint)address, buffer)) return Ascii(GdbHex.Encode(buffer));
        // Some page on the way is unmapped: return the readable prefix, page by page.
        int readable = 0;
        while (readable < buffer.Length)
        {
            uint at = (uint)address + (uint)readable;
            int chunk = (int)Math.Min((ulong)(buffer.Length - readable), 0x1000 - (at & 0xFFF));
            if (!_session.ReadMemory(at, buffer.AsSpan(readable, chunk))) break;
            readable += chunk;
        }
        return readable == 0 ? Error(EFault) : Ascii(GdbHex.Encode(buffer.AsSpan(0, readable)));
    }

    private byte[] WriteMemoryHex(string text)
    {
        int colon = text.IndexOf(':');
        if (colon < 0) return Error(1);
        var (address, length) = ParseAddressLength(text[..colon]);
        byte[]? data = GdbHex.Decode(text.AsSpan(colon + 1));
        if (data is null || (ulong)data.Length != length) return Error(1);
        return WriteMemory(address, data);
    }

    private byte[] WriteMemoryBinary(byte[] payload)
    {
        int colon = Array.IndexOf(payload, (byte)':');
        if (colon < 0) return Error(1);
        var (address, length) = ParseAddressLength(Encoding.Latin1.GetString(payload, 1, colon - 1));
        byte[]? data = GdbFraming.UnescapeBinary(payload.AsSpan(colon + 1));
        if (data is null || (ulong)data.Length != length) return Error(1);
        return WriteMemory(address, data);
    }

    private byte[] WriteMemory(ulong address, byte[] data)
    {
        if ((ulong)data.Length > MaxTransfer || address > uint.MaxValue || address + (ulong)data.Length > 1UL << 32) return Error(1);
        if (data.Length == 0) return Ascii("OK"); // gdb probes X support with an empty write
        return _session.WriteMemory((uint)address, data) ? Ascii("OK") : Error(EFault);
    }
}
