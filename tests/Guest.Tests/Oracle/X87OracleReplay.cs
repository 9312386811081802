using System.Buffers.Binary;
using System.Text;
using VmFt.Guest.Processor;

namespace VmFt.Guest.Tests.Oracle;

/// <summary>
/// Replays x87 vectors: the integer replay (<see cref="OracleReplay"/>) with the x87 state loaded
/// by the emulator's own FNINIT + FRSTOR before the case, as the native runner loads it, and
/// stored by FNSAVE after it, then compared field by field with what the host stored.
/// The segment selectors are the ones a 32-bit Linux process has (CS 0x23, DS/ES/SS 0x2B), so that
/// FNSAVE's FCS and FDS fields compare; CR0 has NE and MP set, as Linux runs.
/// </summary>
internal sealed class X87OracleReplay
{
    private const uint ImageIn = 0x30_6000, ImageOut = 0x30_6200, Stub = 0x30_7000, SaveAt = 0x30_7010;
    private static readonly byte[] LoadStub = [0xDB, 0xE3, 0xDD, 0x25, .. LE(ImageIn)];  // fninit; frstor [ImageIn]
    private static readonly byte[] SaveStub = [0xDD, 0x35, .. LE(ImageOut)];             // fnsave [ImageOut]

    private readonly OracleReplay _replay = new();
    private readonly byte[] _image = new byte[108];

    /// <summary>Results of the transcendental registers compared so far: bit-exact, and 1 ulp apart.</summary>
    public int ExactResults { get; private set; }
    public int UlpResults { get; private set; }

    private static byte[] LE(uint v) => [(byte)v, (byte)(v >> 8), (byte)(v >> 16), (byte)(v >> 24)];

    public X87OracleReplay()
    {
        var cpu = _replay.Cpu;
        cpu.Cr0 |= 0x22; // NE, MP
        // Both stubs stay in place (and decoded); only the image page changes per vector.
        _replay.Memory.Load(Stub, LoadStub);
        _replay.Memory.Load(SaveAt, SaveStub);
        _replay.BeforeRun = LoadState;
    }

    private X87Vector? _current;

    private void LoadState()
    {
        var cpu = _replay.Cpu;
        var mem = _replay.Memory;
        foreach (var (sr, sel) in new[] { (SegmentRegister.CS, (ushort)0x23), (SegmentRegister.DS, (ushort)0x2B), (SegmentRegister.ES, (ushort)0x2B), (SegmentRegister.SS, (ushort)0x2B) })
        {
            var s = cpu.GetSegment(sr);
            s.Selector = sel;
            cpu.SetSegment(sr, s);
        }
        mem.Load(ImageIn, _current!.InitialImage);
        uint eip = cpu.Eip;
        cpu.Eip = Stub;
        cpu.Run(cpu.Position + 2);
        if (cpu.Eip != Stub + LoadStub.Length) throw new InvalidOperationException($"loading the x87 state stopped at {cpu.Eip:X8}");
        cpu.Eip = eip;
    }

    public string? Replay(X87Vector x)
    {
        _current = x;
        _replay.IgnoredData = x.IgnoredData;
        string? why = _replay.Replay(x.Base);
        var cpu = _replay.Cpu;
        // Store the emulator's x87 state the way the host's runner did.
        int cpl = cpu.Cpl;
        cpu.Eip = SaveAt;
        var cs = cpu.GetSegment(SegmentRegister.CS);
        cpu.Run(cpu.Position + 1);
        if (cpu.Eip != SaveAt + SaveStub.Length) return $"{why} FNSAVE after the case stopped at {cpu.Eip:X8} (CPL {cpl}, CS {cs.Selector:X})".Trim();
        _replay.Memory.Ram.AsSpan((int)ImageOut, 108).CopyTo(_image);
        string? fpu = CompareImages(x, _image);
        if (why is null && fpu is null) return null;
        return $"{why} {fpu} [before: {Describe(x.InitialImage)}]".Trim();
    }

    private string? CompareImages(X87Vector x, byte[] got)
    {
        var want = x.FinalImage;
        var sb = new StringBuilder();
        ushort U16(byte[] b, int o) => BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(o));
        uint U32(byte[] b, int o) => BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(o));

        // Registers first: a transcendental result 1 ulp away also frees C1 (its rounding direction).
        bool ulpSeen = false;
        int topBefore = (x.InitialImage[5] >> 3) & 7, topAfter = (want[5] >> 3) & 7;
        for (int i = 0; i < 8; i++)
        {
            int o = 28 + 10 * i;
            ulong ws = BinaryPrimitives.ReadUInt64LittleEndian(want.AsSpan(o)), gs = BinaryPrimitives.ReadUInt64LittleEndian(got.AsSpan(o));
            ushort we = U16(want, o + 8), ge = U16(got, o + 8);
            bool ulp = (x.UlpRegisters & (1 << i)) != 0;
            // Counted as a result only when the instruction wrote something new there (not when an
            // unmasked exception or a stack fault left or replaced it).
            int before = 28 + 10 * ((topAfter + i - topBefore) & 7);
            bool produced = ulp && !want.AsSpan(o, 10).SequenceEqual(x.InitialImage.AsSpan(before, 10))
                && !(we == 0xFFFF && ws == 0xC000_0000_0000_0000);
            if (ws == gs && we == ge)
            {
                if (produced) ExactResults++;
                continue;
            }
            if (ulp && OneUlpApart(ws, we, gs, ge))
            {
                UlpResults++;
                ulpSeen = true;
                continue;
            }
            sb.Append($" st{i}: expected {we:X4}:{ws:X16} got {ge:X4}:{gs:X16};");
        }
        if (U32(want, 0) != U32(got, 0)) sb.Append($" fcw: expected {U32(want, 0):X8} got {U32(got, 0):X8};");
        uint swMask = 0xFFFF_FFFFu & ~(uint)x.UndefinedStatus;
        if (ulpSeen) swMask &= ~0x200u;
        if (((U32(want, 4) ^ U32(got, 4)) & swMask) != 0)
            sb.Append($" fsw: expected {U32(want, 4) & swMask:X8} got {U32(got, 4) & swMask:X8} (undefined {x.UndefinedStatus:X4});");
        if (U32(want, 8) != U32(got, 8)) sb.Append($" ftw: expected {U32(want, 8):X8} got {U32(got, 8):X8};");
        if (U32(want, 12) != U32(got, 12)) sb.Append($" fip: expected {U32(want, 12):X8} got {U32(got, 12):X8};");
        if (U32(want, 20) != U32(got, 20)) sb.Append($" fdp: expected {U32(want, 20):X8} got {U32(got, 20):X8};");
        if (!x.FromSignalFrame)
        {
            // The kernel's signal frame has its own CS and DS and no opcode: only a plain FNSAVE image has them.
            if (U32(want, 16) != U32(got, 16)) sb.Append($" fcs/fop: expected {U32(want, 16):X8} got {U32(got, 16):X8};");
            if (U32(want, 24) != U32(got, 24)) sb.Append($" fds: expected {U32(want, 24):X8} got {U32(got, 24):X8};");
        }
        return sb.Length == 0 ? null : sb.ToString().Trim();
    }

    /// <summary>The start of an image, for failure messages: CW, SW, TW, ST(0), ST(1).</summary>
    internal static string Describe(byte[] image)
    {
        ushort U16(int o) => BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan(o));
        string St(int i) => $"{U16(36 + 10 * i):X4}:{BinaryPrimitives.ReadUInt64LittleEndian(image.AsSpan(28 + 10 * i)):X16}";
        return $"cw {U16(0):X4} sw {U16(4):X4} tw {U16(8):X4} st0 {St(0)} st1 {St(1)}";
    }

    /// <summary>Adjacent values of the same sign (finite, normalized): the significands differ by one unit in the last place, across an exponent step too.</summary>
    internal static bool OneUlpApart(ulong s1, ushort e1, ulong s2, ushort e2)
    {
        if ((e1 & 0x8000) != (e2 & 0x8000)) return false;
        int x1 = e1 & 0x7FFF, x2 = e2 & 0x7FFF;
        if (x1 == x2) return s1 - s2 == 1 || s2 - s1 == 1;
        if (x1 == x2 + 1) return s1 == 0x8000_0000_0000_0000 && s2 == ulong.MaxValue;
        if (x2 == x1 + 1) return s2 == 0x8000_0000_0000_0000 && s1 == ulong.MaxValue;
        return false;
    }
}
