using VmFt.Guest.Io;

namespace VmFt.Guest.Devices;

/// <summary>
/// The 8042 keyboard controller at 0x60 (data) and 0x64 (status/command) with a keyboard that
/// answers its commands, as far as guests probe them (IBM PS/2 Technical Reference, keyboard
/// controller chapter): self tests 0xAA/0xAB, command byte 0x20/0x60, keyboard enable 0xAD/0xAE,
/// output port 0xD0/0xD1 (bit 0 the reset line, bit 1 the A20 gate), 0xDD/0xDF A20, pulse commands
/// 0xF0-0xFF (0xFE resets). Keyboard commands are acknowledged with 0xFA; 0xFF answers 0xFA 0xAA.
/// There is no auxiliary (mouse) device. Commands complete at once, so IBF is never set. IRQ 1
/// follows "output buffer full" while the command byte's interrupt bit is set.
/// </summary>
public sealed class Keyboard8042 : IPortDevice, IStatefulDevice
{
    private const int QueueSize = 16;
    private const byte CmdInterrupt = 0x01, CmdSystemFlag = 0x04, CmdKeyboardDisabled = 0x10, CmdAuxDisabled = 0x20;

    private readonly Action<bool> _irq1;
    private readonly Action<bool> _a20;
    private readonly Action _reset;

    private readonly byte[] _queue = new byte[QueueSize];
    private int _head;
    private int _count;
    private byte _commandByte = 0x45;   // translation, system flag (POST passed), keyboard interrupt
    private byte _outputPort;
    private byte _pendingController;    // controller command waiting for its data byte
    private byte _pendingKeyboard;      // keyboard command waiting for its parameter
    private bool _lastWriteWasCommand;
    private byte _lastData;
    private bool _irqLevel;

    public Keyboard8042(Action<bool> irq1, Action<bool> a20, Action reset, bool a20Enabled = false)
    {
        _irq1 = irq1;
        _a20 = a20;
        _reset = reset;
        _outputPort = (byte)(0x01 | (a20Enabled ? 0x02 : 0));
    }

    public byte CommandByte => _commandByte;

    /// <summary>The output port's A20 gate (bit 1).</summary>
    public bool A20Enabled => (_outputPort & 0x02) != 0;

    public void Register(PortBus bus)
    {
        bus.Map(0x60, 1, this);
        bus.Map(0x64, 1, this);
    }

    /// <summary>A byte from the keyboard (a scan code). Lost while the keyboard interface is disabled.</summary>
    public void KeyboardInput(byte value)
    {
        if ((_commandByte & CmdKeyboardDisabled) != 0)
            return;
        Enqueue(value);
    }

    private byte Status =>
        (byte)((_count > 0 ? 0x01 : 0)
            | (_commandByte & CmdSystemFlag)
            | (_lastWriteWasCommand ? 0x08 : 0)
            | 0x10); // keyboard not inhibited

    public uint Read(ushort port, int size)
    {
        if (port == 0x64)
            return Status;
        if (_count > 0)
        {
            _lastData = _queue[_head];
            _head = (_head + 1) % QueueSize;
            _count--;
            // Drop the line so that the next byte, if any, gives the PIC a fresh edge.
            SetIrq(false);
            UpdateIrq();
        }
        return _lastData;
    }

    public void Write(ushort port, int size, uint value)
    {
        byte b = (byte)value;
        if (port == 0x64)
        {
            _lastWriteWasCommand = true;
            ControllerCommand(b);
        }
        else
        {
            _lastWriteWasCommand = false;
            DataWrite(b);
        }
        UpdateIrq();
    }

    private void ControllerCommand(byte cmd)
    {
        _pendingController = 0;
        switch (cmd)
        {
            case 0x20: Enqueue(_commandByte); break;
            case 0x60: case 0xD1: case 0xD2: case 0xD4: _pendingController = cmd; break;
            case 0xA7: _commandByte |= CmdAuxDisabled; break;
            case 0xA8: _commandByte &= unchecked((byte)~CmdAuxDisabled); break;
            case 0xAA: Enqueue(0x55); break;
            case 0xAB: Enqueue(0x00); break;
            case 0xAD: _commandByte |= CmdKeyboardDisabled; break;
            case 0xAE: _commandByte &= unchecked((byte)~CmdKeyboardDisabled); break;
            case 0xD0: Enqueue(_outputPort); break;
            case 0xDD: WriteOutputPort((byte)(_outputPort & ~0x02)); break;
            case 0xDF: WriteOutputPort((byte)(_outputPort | 0x02)); break;
            default:
                // 0xF0-0xFF pulse the output port lines whose bit is 0; bit 0 is the reset line.
                if (cmd >= 0xF0 && (cmd & 0x01) == 0)
                    _reset();
                break;
        }
    }

    private void DataWrite(byte b)
    {
        byte pending = _pendingController;
        _pendingController = 0;
        switch (pending)
        {
            case 0x60: _commandByte = b; return;
            case 0xD1: WriteOutputPort(b); return;
            case 0xD2: Enqueue(b); return;
            case 0xD4: return; // no auxiliary device to receive it
        }
        KeyboardCommand(b);
    }

    private void KeyboardCommand(byte b)
    {
        if (_pendingKeyboard != 0)
        {
            _pendingKeyboard = 0;
            Enqueue(0xFA); // the parameter (LEDs, scan code set, typematic rate)
            return;
        }
        switch (b)
        {
            case 0xFF:
                Enqueue(0xFA);
                Enqueue(0xAA); // basic assurance test passed
                break;
            case 0xEE:
                Enqueue(0xEE); // echo
                break;
            case 0xF2:
                Enqueue(0xFA);
                Enqueue(0xAB);
                Enqueue(0x83); // MF2 keyboard
                break;
            case 0xED:
            case 0xF0:
            case 0xF3:
                Enqueue(0xFA);
                _pendingKeyboard = b;
                break;
            default:
                Enqueue(0xFA);
                break;
        }
    }

    private void WriteOutputPort(byte value)
    {
        byte old = _outputPort;
        _outputPort = value;
        if (((old ^ value) & 0x02) != 0)
            _a20((value & 0x02) != 0);
        if ((value & 0x01) == 0)
            _reset();
    }

    private void Enqueue(byte value)
    {
        if (_count == QueueSize)
            return;
        _queue[(_head + _count) % QueueSize] = value;
        _count++;
    }

    private void UpdateIrq() => SetIrq(_count > 0 && (_commandByte & CmdInterrupt) != 0);

    private void SetIrq(bool level)
    {
        if (level == _irqLevel)
            return;
        _irqLevel = level;
        _irq1(level);
    }

    public byte StateVersion => 1;

    public void SaveState(BinaryWriter w)
    {
        w.Write(_queue);
        w.Write((byte)_head);
        w.Write((byte)_count);
        w.Write(_commandByte);
        w.Write(_outputPort);
        w.Write(_pendingController);
        w.Write(_pendingKeyboard);
        w.Write(_lastWriteWasCommand);
        w.Write(_lastData);
        w.Write(_irqLevel);
    }

    public void LoadState(BinaryReader r)
    {
        byte[] queue = r.ReadBytes(QueueSize);
        if (queue.Length != QueueSize)
            throw new EndOfStreamException();
        queue.CopyTo(_queue, 0);
        _head = r.ReadByte();
        _count = r.ReadByte();
        if (_head >= QueueSize || _count > QueueSize)
            throw new InvalidDataException("8042 output queue position out of range");
        _commandByte = r.ReadByte();
        _outputPort = r.ReadByte();
        _pendingController = r.ReadByte();
        _pendingKeyboard = r.ReadByte();
        _lastWriteWasCommand = r.ReadBoolean();
        _lastData = r.ReadByte();
        _irqLevel = r.ReadBoolean();
    }
}
