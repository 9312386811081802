using VmFt.Guest.Devices.Pci;
using VmFt.Guest.Io;
using VmFt.Guest.Machine;

namespace VmFt.Guest.Tests.Devices;

/// <summary>Configuration mechanism #1, the PC's two bridges as Linux probes them, BARs, and the reset control register.</summary>
public class PciTests
{
    private readonly PortBus _bus = new();
    private readonly PciHost _host = new();
    private int _resets;

    public PciTests()
    {
        _host.Attach(0, 0, new I440fxHostBridge());
        var isa = new Piix3IsaBridge(() => _resets++);
        _host.Attach(1, 0, isa);
        _host.Register(_bus);
        isa.Register(_bus);
    }

    private static uint ConfigAddress(int device, int function, int register, int bus = 0) =>
        0x8000_0000u | (uint)bus << 16 | (uint)device << 11 | (uint)function << 8 | (uint)register;

    private uint ReadConfig(int device, int function, int register, int size = 4)
    {
        _bus.Write(0xCF8, 4, ConfigAddress(device, function, register & 0xFC));
        return _bus.Read((ushort)(0xCFC + (register & 3)), size);
    }

    private void WriteConfig(int device, int function, int register, int size, uint value)
    {
        _bus.Write(0xCF8, 4, ConfigAddress(device, function, register & 0xFC));
        _bus.Write((ushort)(0xCFC + (register & 3)), size, value);
    }

    [Fact]
    public void TheAddressRegisterIsADwordWithReservedBitsZero()
    {
        // Linux's type 1 probe: write 0x80000000, read it back unchanged.
        _bus.Write(0xCF8, 4, 0x8000_0000);
        Assert.Equal(0x8000_0000u, _bus.Read(0xCF8, 4));
        _bus.Write(0xCF8, 4, 0xFFFF_FFFF);
        Assert.Equal(0x80FF_FFFCu, _bus.Read(0xCF8, 4));
        // Byte and word accesses do not reach it (the type 2 probe writes bytes to 0xCF8 and 0xCFA).
        _bus.Write(0xCF8, 1, 0x00);
        _bus.Write(0xCFA, 1, 0x00);
        _bus.Write(0xCF8, 2, 0x0000);
        Assert.Equal(0x80FF_FFFCu, _bus.Read(0xCF8, 4));
        Assert.Equal(0xFFu, _bus.Read(0xCFA, 1));
    }

    [Fact]
    public void TheHostBridgeIsAnI440fx()
    {
        Assert.Equal(0x1237_8086u, ReadConfig(0, 0, 0x00));
        Assert.Equal(0x0600_0002u, ReadConfig(0, 0, 0x08));   // class 06/00/00, revision 02
        Assert.Equal(0x0006u, ReadConfig(0, 0, 0x04, 2));
        Assert.Equal(0x0280u, ReadConfig(0, 0, 0x06, 2));
        Assert.Equal(0x00u, ReadConfig(0, 0, 0x0E, 1));        // single function
        Assert.Equal(0x0600u, ReadConfig(0, 0, 0x0A, 2));      // PCI_CLASS_DEVICE, what Linux's sanity check reads
    }

    [Fact]
    public void TheIsaBridgeIsAMultiFunctionPiix3()
    {
        Assert.Equal(0x7000_8086u, ReadConfig(1, 0, 0x00));
        Assert.Equal(0x0601_0000u, ReadConfig(1, 0, 0x08));
        Assert.Equal(0x80u, ReadConfig(1, 0, 0x0E, 1));
        Assert.Equal(0x8080_8080u, ReadConfig(1, 0, 0x60));    // PIRQRC[A:D] routing disabled
        Assert.Equal(0x02u, ReadConfig(1, 0, 0x69, 1));        // TOM
        Assert.Equal(0x4Du, ReadConfig(1, 0, 0x4C, 1));        // IORT
        // Its other functions are absent: a multi-function scan finds nothing there.
        Assert.Equal(0xFFFF_FFFFu, ReadConfig(1, 1, 0x00));
    }

    [Fact]
    public void LinuxsPassiveReleaseQuirkSticks()
    {
        Assert.Equal(0x00u, ReadConfig(1, 0, 0x82, 1));
        WriteConfig(1, 0, 0x82, 1, 0x02);
        Assert.Equal(0x02u, ReadConfig(1, 0, 0x82, 1));
        WriteConfig(1, 0, 0x82, 1, 0xFF);
        Assert.Equal(0x0Fu, ReadConfig(1, 0, 0x82, 1));       // reserved bits stay zero
    }

    [Fact]
    public void EmptySlotsOtherBusesAndADisabledAddressReadAllOnes()
    {
        Assert.Equal(0xFFFF_FFFFu, ReadConfig(2, 0, 0x00));
        Assert.Equal(0xFFFFu, ReadConfig(31, 7, 0x02, 2));
        _bus.Write(0xCF8, 4, ConfigAddress(0, 0, 0, bus: 1));
        Assert.Equal(0xFFFF_FFFFu, _bus.Read(0xCFC, 4));
        _bus.Write(0xCF8, 4, ConfigAddress(0, 0, 0) & 0x7FFF_FFFF);
        Assert.Equal(0xFFFF_FFFFu, _bus.Read(0xCFC, 4));
        _bus.Write(0xCFC, 4, 0);   // goes nowhere
        Assert.Equal(0x1237_8086u, ReadConfig(0, 0, 0x00));
    }

    [Fact]
    public void IdentificationFieldsAreReadOnlyAndBytesAndWordsReachTheirOffsets()
    {
        WriteConfig(0, 0, 0x00, 4, 0);
        WriteConfig(0, 0, 0x08, 4, 0);
        Assert.Equal(0x1237_8086u, ReadConfig(0, 0, 0x00));
        Assert.Equal(0x0600_0002u, ReadConfig(0, 0, 0x08));
        Assert.Equal(0x86u, ReadConfig(0, 0, 0x00, 1));
        Assert.Equal(0x80u, ReadConfig(0, 0, 0x01, 1));
        Assert.Equal(0x37u, ReadConfig(0, 0, 0x02, 1));
        Assert.Equal(0x1237u, ReadConfig(0, 0, 0x02, 2));
        // PAM registers hold what is written, byte by byte.
        WriteConfig(0, 0, 0x5A, 1, 0x33);
        Assert.Equal(0x33u, ReadConfig(0, 0, 0x5A, 1));
        Assert.Equal(0x0033_0000u, ReadConfig(0, 0, 0x58) & 0x00FF_0000);
    }

    private sealed class TestFunction : PciFunction
    {
        public int Writes;

        public TestFunction() : base(0x1AF4, 0x1001, 0, 0x01_00_00, 0, interruptPin: 1)
        {
            DefineRegister(CommandOffset, 2, 0, CommandIo | CommandMemory | CommandBusMaster | CommandInterruptDisable);
            DefineBar(0, 0x40, io: true);
            DefineBar(1, 0x1000, io: false);
            Seal();
        }

        protected override void ConfigWritten(int offset, int size) => Writes++;
    }

    [Fact]
    public void BarsDecodeTheirSizeAndTypeTheStandardWay()
    {
        var f = new TestFunction();
        _host.Attach(3, 0, f);
        Assert.Equal(0x1u, ReadConfig(3, 0, 0x10));             // I/O BAR, unassigned
        Assert.Equal(0x0u, ReadConfig(3, 0, 0x14));             // 32-bit non-prefetchable memory BAR
        WriteConfig(3, 0, 0x10, 4, 0xFFFF_FFFF);
        WriteConfig(3, 0, 0x14, 4, 0xFFFF_FFFF);
        Assert.Equal(0xFFFF_FFC1u, ReadConfig(3, 0, 0x10));     // 64 bytes of I/O
        Assert.Equal(0xFFFF_F000u, ReadConfig(3, 0, 0x14));     // 4 KiB of memory
        Assert.Equal(0u, ReadConfig(3, 0, 0x18));               // an unimplemented BAR reads zero whatever is written
        WriteConfig(3, 0, 0x18, 4, 0xFFFF_FFFF);
        Assert.Equal(0u, ReadConfig(3, 0, 0x18));
        WriteConfig(3, 0, 0x10, 4, 0xC040);
        WriteConfig(3, 0, 0x14, 4, 0xFEBF_1000);
        Assert.Equal(0xC041u, ReadConfig(3, 0, 0x10));
        Assert.Equal(0xC040u, f.BarAddress(0));
        Assert.Equal(0xFEBF_1000u, f.BarAddress(1));
        WriteConfig(3, 0, 0x04, 2, 0xFFFF);
        Assert.Equal(0x0407u, f.Command);
        // The interrupt line is writable scratch; the pin is not.
        WriteConfig(3, 0, 0x3C, 2, 0xFF0B);
        Assert.Equal((0x0Bu, 1u), ((uint)f.InterruptLine, (uint)f.InterruptPin));
        Assert.True(f.Writes > 0);
        f.Reset();
        Assert.Equal(0x1u, f.ReadConfig(0x10, 4));
    }

    [Fact]
    public void ASlotTakesOneFunction()
    {
        Assert.Throws<InvalidOperationException>(() => _host.Attach(0, 0, new I440fxHostBridge()));
        Assert.Throws<ArgumentOutOfRangeException>(() => _host.Attach(32, 0, new I440fxHostBridge()));
    }

    [Fact]
    public void Port0xCF9ResetsOnARisingRcpu()
    {
        Assert.Equal(0x00u, _bus.Read(0xCF9, 1));
        _bus.Write(0xCF9, 1, 0x02);             // SRST alone: no reset yet (Linux's reboot=pci sequence)
        Assert.Equal(0, _resets);
        Assert.Equal(0x02u, _bus.Read(0xCF9, 1));
        _bus.Write(0xCF9, 1, 0x06);             // RCPU 0 -> 1
        Assert.Equal(1, _resets);
        _bus.Write(0xCF9, 1, 0x06);             // already set: no edge
        Assert.Equal(1, _resets);
        // A dword access at 0xCF8 is the address register, not the reset control.
        _bus.Write(0xCF8, 4, 0x8000_0004);
        Assert.Equal(1, _resets);
    }

    [Fact]
    public void StateRoundTripsWithEveryFunction()
    {
        WriteConfig(1, 0, 0x60, 4, 0x0B0B_0A0A);
        WriteConfig(0, 0, 0x59, 1, 0x30);
        _bus.Write(0xCF9, 1, 0x02);
        _bus.Write(0xCF8, 4, ConfigAddress(1, 0, 0x60));
        var copy = new PciHost();
        copy.Attach(0, 0, new I440fxHostBridge());
        var isa = new Piix3IsaBridge(() => { });
        copy.Attach(1, 0, isa);
        StateRoundTrip.Copy(_host, copy);
        Assert.Equal(ConfigAddress(1, 0, 0x60), copy.Address);
        Assert.Equal(0x0B0B_0A0Au, copy.FunctionAt(1, 0)!.ReadConfig(0x60, 4));
        Assert.Equal(0x30u, copy.FunctionAt(0, 0)!.ReadConfig(0x59, 1));
        Assert.Equal(0x02, isa.ResetControl);
    }

    [Fact]
    public void ThePcHasBothBridges()
    {
        var machine = new PcMachine(new MachineConfiguration { RamSize = 1u << 20 });
        machine.Ports.Write(0xCF8, 4, ConfigAddress(0, 0, 0));
        Assert.Equal(0x1237_8086u, machine.Ports.Read(0xCFC, 4));
        machine.Ports.Write(0xCF8, 4, ConfigAddress(1, 0, 0));
        Assert.Equal(0x7000_8086u, machine.Ports.Read(0xCFC, 4));
        machine.Ports.Write(0xCF8, 4, ConfigAddress(2, 0, 0));
        Assert.Equal(0xFFFF_FFFFu, machine.Ports.Read(0xCFC, 4));
    }
}
