using VmFt.Guest.Io;

namespace VmFt.Guest.Devices;

/// <summary>
/// The PC-compatible x87 error logic (SDM vol. 1, appendix D, "MS-DOS compatibility sub-mode"):
/// the CPU's FERR# output raises IRQ 13; an OUT to port 0xF0 drops IRQ 13 and asserts the CPU's
/// IGNNE# input, so that the handler's x87 instructions run despite the pending error; IGNNE#
/// goes away with FERR# (FNCLEX, FNINIT). Only matters while CR0.NE is clear: with NE set the CPU
/// reports x87 errors as #MF and never asserts FERR#.
/// </summary>
public sealed class FpuErrorLatch : IPortDevice, IStatefulDevice
{
    public const ushort Port = 0xF0;

    private readonly Action<bool> _irq13;
    private readonly Action<bool> _ignne;
    private bool _ferr, _cleared, _ignneAsserted;

    public FpuErrorLatch(Action<bool> irq13, Action<bool> ignne)
    {
        _irq13 = irq13;
        _ignne = ignne;
    }

    public bool Irq13 => _ferr && !_cleared;
    public bool Ignne => _ignneAsserted;

    public void Register(PortBus bus) => bus.Map(Port, 1, this);

    /// <summary>The CPU's FERR# pin changed.</summary>
    public void FerrChanged(bool level)
    {
        if (level == _ferr) return;
        _ferr = level;
        if (level)
        {
            _cleared = false;
            _irq13(true);
            return;
        }
        _irq13(false);
        _cleared = false;
        if (_ignneAsserted)
        {
            _ignneAsserted = false;
            _ignne(false);
        }
    }

    public uint Read(ushort port, int size) => 0xFF;

    public byte StateVersion => 1;

    /// <summary>Any value written to 0xF0 clears the error latch.</summary>
    public void Write(ushort port, int size, uint value)
    {
        if (!_ferr) return;
        if (!_cleared)
        {
            _cleared = true;
            _irq13(false);
        }
        if (!_ignneAsserted)
        {
            _ignneAsserted = true;
            _ignne(true);
        }
    }

    public void SaveState(BinaryWriter w)
    {
        w.Write(_ferr);
        w.Write(_cleared);
        w.Write(_ignneAsserted);
    }

    public void LoadState(BinaryReader r)
    {
        _ferr = r.ReadBoolean();
        _cleared = r.ReadBoolean();
        _ignneAsserted = r.ReadBoolean();
    }
}
