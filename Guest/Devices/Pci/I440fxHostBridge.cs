namespace VmFt.Guest.Devices.Pci;

/// <summary>
/// The Intel 82441FX PCI and memory controller (i440FX) as device 00:00.0: vendor 8086, device
/// 1237, revision 02, class 06/00/00 (host bridge), the chipset QEMU's "pc" machine has. Linux's
/// configuration-mechanism probe needs a host bridge on bus 0 to trust mechanism #1. The
/// programmable attribute map and SMRAM registers hold what software writes; memory below 1 MiB
/// stays as the machine maps it.
/// </summary>
public sealed class I440fxHostBridge : PciFunction
{
    public I440fxHostBridge() : base(0x8086, 0x1237, 0x02, 0x06_00_00, headerType: 0x00)
    {
        DefineRegister(CommandOffset, 2, 0x0006, 0x0140);   // memory and bus master always on; PERR#/SERR# enables
        DefineRegister(StatusOffset, 2, 0x0280, 0x0000);    // fast back-to-back, medium DEVSEL timing
        DefineRegister(0x0D, 1, 0x00, 0xF8);                // master latency timer
        DefineRegister(0x50, 2, 0x0000, 0xFFFF);            // PMCCFG
        DefineRegister(0x57, 1, 0x01, 0xFF);                // DRAMC
        DefineRegister(0x58, 1, 0x10, 0xFF);                // DRAMT
        for (int i = 0; i < 7; i++) DefineRegister(0x59 + i, 1, 0x00, 0x77);   // PAM0-PAM6 (PAM0's low nibble is reserved: masked below)
        DefineRegister(0x59, 1, 0x00, 0x70);
        for (int i = 0; i < 8; i++) DefineRegister(0x60 + i, 1, 0x01, 0xFF);   // DRB0-DRB7
        DefineRegister(0x72, 1, 0x02, 0x78);                // SMRAM: D_OPEN, D_CLS, D_LCK, G_SMRAME
        Seal();
    }
}
