using VmFt.Guest.Io;

namespace VmFt.Guest.Devices;

/// <summary>
/// The PC/AT pair of 8259A interrupt controllers: master at 0x20/0x21 delivering IRQ 0-7, slave at
/// 0xA0/0xA1 delivering IRQ 8-15 through the master's IR2, and the chipset's edge/level control
/// registers (ELCR) at 0x4D0/0x4D1 as on the PIIX. The master's INT output is the CPU's INTR pin;
/// the CPU's interrupt acknowledge cycle is <see cref="Acknowledge"/>.
/// </summary>
public sealed class DualPic : IPortDevice, IStatefulDevice
{
    // IRQ 0, 1, 2 (master) and 8, 13 (slave) are wired edge-triggered on the PIIX.
    private readonly Pic8259 _master = new(elcrWritable: 0xF8, levelAlways: 1 << 2) { IsMaster = true };
    private readonly Pic8259 _slave = new(elcrWritable: 0xDE, levelAlways: 0);
    private readonly Action<bool>? _outputChanged;
    private bool _output;

    public DualPic(Action<bool>? outputChanged = null) => _outputChanged = outputChanged;

    /// <summary>The INTR pin: the master's INT output.</summary>
    public bool InterruptOutput => _output;

    public void Register(PortBus bus)
    {
        bus.Map(0x20, 2, this);
        bus.Map(0xA0, 2, this);
        bus.Map(0x4D0, 2, this);
    }

    /// <summary>Sets the level of input line <paramref name="irq"/> (0-15).</summary>
    public void SetIrq(int irq, bool level)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(irq);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(irq, 15);
        // IR2 of the master is the cascade; the ISA bus's IRQ2 pin is wired to IRQ9 on an AT.
        if (irq == 2)
            irq = 9;
        if (irq < 8)
            _master.SetLine(irq, level);
        else
            _slave.SetLine(irq - 8, level);
        Update();
    }

    /// <summary>The INTA cycle: returns the vector and marks the interrupt in service.</summary>
    public byte Acknowledge()
    {
        byte vector;
        int irq = _master.Acknowledge();
        if (irq < 0)
        {
            // The request went away before the acknowledge: the 8259A answers with IR7.
            vector = (byte)(_master.VectorBase | 7);
        }
        else if (_master.IsCascadeInput(irq))
        {
            int slaveIrq = _slave.Acknowledge();
            vector = (byte)(_slave.VectorBase | (slaveIrq < 0 ? 7 : slaveIrq));
        }
        else
        {
            vector = (byte)(_master.VectorBase | irq);
        }
        Update();
        return vector;
    }

    public uint Read(ushort port, int size)
    {
        byte value = port switch
        {
            0x20 => ReadCommand(_master),
            0x21 => _master.ReadData(),
            0xA0 => ReadCommand(_slave),
            0xA1 => _slave.ReadData(),
            0x4D0 => _master.Elcr,
            0x4D1 => _slave.Elcr,
            _ => 0xFF,
        };
        return value;
    }

    private byte ReadCommand(Pic8259 pic)
    {
        if (!pic.PollPending)
            return pic.ReadCommand();
        byte result = pic.Poll(out _);
        Update();
        return result;
    }

    public void Write(ushort port, int size, uint value)
    {
        byte b = (byte)value;
        switch (port)
        {
            case 0x20: _master.WriteCommand(b); break;
            case 0x21: _master.WriteData(b); break;
            case 0xA0: _slave.WriteCommand(b); break;
            case 0xA1: _slave.WriteData(b); break;
            // The PIIX's ELCR1 bits 0-2 (IRQ0-2) and ELCR2 bits 0 and 5 (IRQ8, IRQ13) are reserved,
            // read as 0: the timer, keyboard, cascade, RTC and FPU lines are always edge-triggered.
            case 0x4D0: _master.Elcr = (byte)(b & 0xF8); break;
            case 0x4D1: _slave.Elcr = (byte)(b & 0xDE); break;
            default: return;
        }
        Update();
    }

    private void Update()
    {
        _master.SetLine(2, _slave.Output);
        bool output = _master.Output;
        if (output == _output)
            return;
        _output = output;
        _outputChanged?.Invoke(output);
    }

    public byte StateVersion => 1;

    public void SaveState(BinaryWriter w)
    {
        _master.Save(w);
        _slave.Save(w);
        w.Write(_output);
    }

    public void LoadState(BinaryReader r)
    {
        _master.Load(r);
        _slave.Load(r);
        _output = r.ReadBoolean();
    }
}
