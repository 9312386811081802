using VmFt.Guest.Io;

namespace VmFt.Guest.Devices.Pci;

/// <summary>
/// The Intel 82371SB PIIX3 PCI-to-ISA bridge as device 00:01.0: vendor 8086, device 7000,
/// class 06/01/00, a multi-function device (header type 0x80) as on a PC, with its configuration
/// registers at their reset values (IRQ routing PIRQRC[A:D] disabled, 0x80; top of memory; the
/// X-bus chip select; the DLC register Linux's quirk sets passive release in). The edge/level
/// control registers at 0x4D0/0x4D1 are the PIC pair's ports. It also owns the reset control
/// register at I/O port 0xCF9: a 0-to-1 transition of RCPU (bit 2) resets the system (hard reset
/// with SRST, bit 1, set; soft reset otherwise: either way this machine ends the run).
/// </summary>
public sealed class Piix3IsaBridge : PciFunction, IPortDevice
{
    public const ushort ResetControlPort = 0xCF9;
    private const byte ResetCpu = 1 << 2;

    private readonly Action _reset;
    private byte _resetControl;

    public Piix3IsaBridge(Action reset) : base(0x8086, 0x7000, 0x00, 0x06_01_00, headerType: 0x80)
    {
        _reset = reset;
        DefineRegister(CommandOffset, 2, 0x0007, 0x0000);   // I/O, memory and bus master always on
        DefineRegister(StatusOffset, 2, 0x0200, 0x0000);    // medium DEVSEL timing
        DefineRegister(0x4C, 1, 0x4D, 0xFF);                // IORT: ISA I/O recovery timer
        DefineRegister(0x4E, 2, 0x0003, 0x0377);            // XBCS: X-bus chip select
        DefineRegister(0x60, 4, 0x8080_8080, 0x8F8F_8F8F);  // PIRQRC[A:D]: routing disabled
        DefineRegister(0x69, 1, 0x02, 0xFF);                // TOM: top of memory
        DefineRegister(0x6A, 2, 0x0000, 0xFFFF);            // MSTAT
        DefineRegister(0x70, 2, 0x8080, 0xEFEF);            // MBIRQ0/1: motherboard device IRQ routing disabled
        DefineRegister(0x76, 2, 0x0404, 0x8F8F);            // MBDMA0/1
        DefineRegister(0x78, 2, 0x0002, 0xFFFF);            // PCSC
        DefineRegister(0x80, 1, 0x00, 0x7F);                // APICBASE
        DefineRegister(0x82, 1, 0x00, 0x0F);                // DLC: deterministic latency control
        DefineRegister(0xA0, 1, 0x08, 0x1F);                // SMICNTL
        DefineRegister(0xA2, 2, 0x0000, 0x00FF);            // SMIEN
        DefineRegister(0xA4, 4, 0x0000_0000, 0xC000_7FFF);  // SEE
        DefineRegister(0xA8, 1, 0x0F, 0xFF);                // FTMR
        DefineRegister(0xAA, 2, 0x0000, 0x01FF);            // SMIREQ
        DefineRegister(0xAC, 1, 0x00, 0xFF);                // CTLTMR
        DefineRegister(0xAE, 1, 0x00, 0xFF);                // CTHTMR
        Seal();
    }

    public byte ResetControl => _resetControl;

    public void Register(PortBus bus) => bus.Map(ResetControlPort, 1, this);

    public uint Read(ushort port, int size) => size == 1 ? _resetControl : size == 2 ? 0xFFFFu : 0xFFFF_FFFFu;

    public void Write(ushort port, int size, uint value)
    {
        if (size != 1) return;
        byte b = (byte)(value & 0x0E);
        bool reset = (b & ResetCpu) != 0 && (_resetControl & ResetCpu) == 0;
        _resetControl = b;
        if (reset) _reset();
    }

    public override void SaveState(BinaryWriter w)
    {
        base.SaveState(w);
        w.Write(_resetControl);
    }

    public override void LoadState(BinaryReader r)
    {
        base.LoadState(r);
        _resetControl = r.ReadByte();
    }
}
