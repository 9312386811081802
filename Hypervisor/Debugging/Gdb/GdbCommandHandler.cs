using System.Globalization;
using System.Text;
using VmFt.Guest.Processor;

namespace VmFt.Hypervisor.Debugging.Gdb;

/// <summary>
/// Answers gdb's packets over a <see cref="ReplaySession"/>: one call to <see cref="Handle"/> per
/// packet, on one thread. Motions (s, c, bs, bc) can be cut short from another thread with
/// <see cref="Interrupt"/>. Console text (monitor output, guest serial output while running) goes
/// out through <see cref="ConsoleOutput"/> as O packets before the reply.
/// </summary>
public sealed partial class GdbCommandHandler
{
    /// <summary>Largest packet gdb may send us (and we advertise as PacketSize).</summary>
    public const int PacketSize = 0x4000;
    /// <summary>Largest m/M/X transfer: a hex reply of this many bytes fits the packet size.</summary>
    public const int MaxTransfer = (PacketSize - 32) / 2;

    private const string ThreadId = "1";
    private static readonly byte[] Empty = [];

    private readonly ReplaySession _session;
    private readonly HashSet<uint> _softwareBreakpoints = new();
    private readonly HashSet<uint> _hardwareBreakpoints = new();
    private readonly object _motionLock = new();
    private CancellationTokenSource? _motion;
    private bool _interruptPending;
    private string _lastStop;

    public GdbCommandHandler(ReplaySession session)
    {
        _session = session;
        _lastStop = StopReply(new StopInfo(StopReason.Reached, session.Position), forwards: true, signal: 5);
    }

    /// <summary>Sends one O packet (already hex-encoded text) to gdb; set by the connection.</summary>
    public Action<string>? ConsoleOutput { get; set; }

    /// <summary>Set once gdb has asked for QStartNoAckMode and been answered OK.</summary>
    public bool NoAckMode { get; private set; }

    public GdbSessionEnd End { get; private set; }

    /// <summary>gdb's interrupt byte: cancels the motion in progress, or the next one if it races the packet that starts it.</summary>
    public void Interrupt()
    {
        lock (_motionLock)
        {
            if (_motion is not null) _motion.Cancel();
            else _interruptPending = true;
        }
    }

    /// <summary>
    /// Answers one packet (payload with escapes still in place). Returns the reply payload, ready to
    /// frame (binary parts escaped), or null when no reply is due (after k).
    /// </summary>
    public byte[]? Handle(byte[] payload)
    {
        try
        {
            return Dispatch(payload);
        }
        catch (FormatException)
        {
            return Error(1);
        }
        catch (OverflowException)
        {
            return Error(1);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The session failed (a damaged recording, a bug): gdb shows the reason, the connection stays up.
            ConsoleOutput?.Invoke(GdbHex.Encode($"replay stub: {e.GetType().Name}: {e.Message}\n"));
            return Error(0x16);
        }
    }

    private byte[]? Dispatch(byte[] payload)
    {
        if (payload.Length == 0) return Empty;
        string text = Encoding.Latin1.GetString(payload);
        char first = text[0];
        string rest = text[1..];
        switch (first)
        {
            case '?': return Ascii(_lastStop);
            case 'g': return rest.Length == 0 ? Ascii(ReadAllRegisters()) : Error(1);
            case 'G': return WriteAllRegisters(rest);
            case 'p': return ReadOneRegister(rest);
            case 'P': return WriteOneRegister(rest);
            case 'm': return ReadMemoryPacket(rest);
            case 'M': return WriteMemoryHex(rest);
            case 'X': return WriteMemoryBinary(payload);
            case 's': return Resume(rest, step: true);
            case 'c': return Resume(rest, step: false);
            case 'S': return ResumeWithSignal(rest, step: true);
            case 'C': return ResumeWithSignal(rest, step: false);
            case 'b':
                return rest switch
                {
                    "s" => Ascii(Move(c => _session.ReverseStepInstruction(c), forwards: false)),
                    "c" => Ascii(Move(c => _session.ReverseContinue(c), forwards: false)),
                    _ => Empty,
                };
            case 'Z': return ChangeTrap(rest, insert: true);
            case 'z': return ChangeTrap(rest, insert: false);
            case 'H': return rest.Length >= 1 && rest[0] is 'g' or 'c' or 'G' ? Ascii("OK") : Error(1);
            case 'T': return Ascii("OK"); // thread alive: there is one, and it is
            case 'D':
                End = GdbSessionEnd.Detached;
                return Ascii("OK");
            case 'k':
                End = GdbSessionEnd.Killed;
                return null;
            case 'q': return Query(text);
            case 'Q': return SetQuery(text);
            case 'v': return VerbosePacket(text);
            default: return Empty;
        }
    }

    private byte[] Query(string text)
    {
        if (text.StartsWith("qSupported", StringComparison.Ordinal))
            return Ascii($"PacketSize={PacketSize:x};qXfer:features:read+;ReverseStep+;ReverseContinue+;swbreak+;hwbreak+;QStartNoAckMode+");
        if (text.StartsWith("qXfer:features:read:", StringComparison.Ordinal)) return ReadFeatures(text["qXfer:features:read:".Length..]);
        if (text.StartsWith("qRcmd,", StringComparison.Ordinal)) return Monitor(text["qRcmd,".Length..]);
        return text switch
        {
            "qAttached" or "qAttached:1" => Ascii("1"), // on quit gdb detaches instead of killing
            "qC" => Ascii("QC" + ThreadId),
            "qfThreadInfo" => Ascii("m" + ThreadId),
            "qsThreadInfo" => Ascii("l"),
            "qOffsets" => Ascii("Text=0;Data=0;Bss=0"),
            "qSymbol::" => Ascii("OK"),
            _ => Empty,
        };
    }

    private byte[] SetQuery(string text)
    {
        if (text == "QStartNoAckMode")
        {
            NoAckMode = true;
            return Ascii("OK");
        }
        return Empty;
    }

    private byte[] VerbosePacket(string text)
    {
        if (text == "vCont?") return Ascii("vCont;c;C;s;S");
        if (text.StartsWith("vCont;", StringComparison.Ordinal))
        {
            // One thread: the first action decides (actions without a thread id apply to all).
            string action = text["vCont;".Length..].Split(';')[0];
            int colon = action.IndexOf(':');
            if (colon >= 0) action = action[..colon];
            if (action.Length == 0) return Error(1);
            return action[0] switch
            {
                's' or 'S' => Ascii(Move(c => _session.StepInstruction(c), forwards: true)),
                'c' or 'C' => Ascii(Move(c => _session.Continue(c), forwards: true)),
                _ => Error(1),
            };
        }
        if (text.StartsWith("vKill", StringComparison.Ordinal))
        {
            End = GdbSessionEnd.Killed;
            return Ascii("OK");
        }
        return Empty; // vMustReplyEmpty and everything we do not know
    }

    private byte[] ReadFeatures(string args)
    {
        // annex:offset,length
        int colon = args.IndexOf(':');
        if (colon < 0) return Error(1);
        string annex = args[..colon];
        if (annex != "target.xml") return Error(0);
        var (offset, length) = ParseAddressLength(args[(colon + 1)..]);
        byte[] xml = Encoding.UTF8.GetBytes(GdbTargetDescription.Xml);
        if (offset > (ulong)xml.Length) return Error(1);
        int start = (int)offset;
        int count = (int)Math.Min(length, Math.Min((ulong)(xml.Length - start), MaxTransfer));
        var reply = new List<byte> { (byte)(start + count < xml.Length ? 'm' : 'l') };
        reply.AddRange(GdbFraming.EscapeBinary(xml.AsSpan(start, count)));
        return reply.ToArray();
    }

    // ---- motion ----

    private byte[] Resume(string address, bool step)
    {
        if (address.Length > 0)
        {
            uint eip = ParseUInt32(address);
            if (eip != _session.Cpu.Eip)
            {
                _session.Cpu.Eip = eip;
                _session.MarkModified();
            }
        }
        return Ascii(step ? Move(c => _session.StepInstruction(c), forwards: true) : Move(c => _session.Continue(c), forwards: true));
    }

    private byte[] ResumeWithSignal(string args, bool step)
    {
        // Csig[;addr]: there are no signals to deliver to a bare-metal guest; the signal is dropped.
        int semicolon = args.IndexOf(';');
        string signal = semicolon >= 0 ? args[..semicolon] : args;
        if (!GdbHex.TryParseNumber(signal, out _)) return Error(1);
        return Resume(semicolon >= 0 ? args[(semicolon + 1)..] : "", step);
    }

    private string Move(Func<CancellationToken, StopInfo> motion, bool forwards)
    {
        var cts = new CancellationTokenSource();
        lock (_motionLock)
        {
            _motion = cts;
            if (_interruptPending) cts.Cancel();
            _interruptPending = false;
        }
        var serial = new StringBuilder();
        var previousSerial = _session.SerialOutput;
        if (forwards) _session.SerialOutput = b => { serial.Append((char)b); if (b == '\n' || serial.Length >= 256) FlushSerial(serial); };
        StopInfo stop;
        try
        {
            stop = motion(cts.Token);
        }
        finally
        {
            _session.SerialOutput = previousSerial;
            lock (_motionLock) _motion = null;
            cts.Dispose();
        }
        FlushSerial(serial);
        _lastStop = StopReply(stop, forwards, stop.Reason == StopReason.Interrupted ? 2 : 5);
        return _lastStop;
    }

    private void FlushSerial(StringBuilder serial)
    {
        if (serial.Length == 0) return;
        ConsoleOutput?.Invoke(GdbHex.Encode(Encoding.Latin1.GetBytes(serial.ToString())));
        serial.Clear();
    }

    /// <summary>T packet: signal, thread, the registers gdb needs to show a frame, and why the motion stopped.</summary>
    private string StopReply(StopInfo stop, bool forwards, int signal)
    {
        var cpu = _session.Cpu;
        var sb = new StringBuilder();
        sb.Append('T').Append(signal.ToString("x2", CultureInfo.InvariantCulture));
        sb.Append("thread:").Append(ThreadId).Append(';');
        sb.Append("08:").Append(GdbHex.EncodeLittleEndian32(cpu.Eip)).Append(';');
        sb.Append("04:").Append(GdbHex.EncodeLittleEndian32(cpu.Esp)).Append(';');
        sb.Append("05:").Append(GdbHex.EncodeLittleEndian32(cpu.Ebp)).Append(';');
        switch (stop.Reason)
        {
            case StopReason.Breakpoint:
                // A breakpoint set only with Z1 is reported as a hardware one; gdb adjusts neither.
                bool hardwareOnly = _hardwareBreakpoints.Contains(stop.Address) && !_softwareBreakpoints.Contains(stop.Address);
                sb.Append(hardwareOnly ? "hwbreak:;" : "swbreak:;");
                break;
            case StopReason.Watchpoint:
                string kind = stop.Watch switch { WatchKind.Read => "rwatch", WatchKind.Access => "awatch", _ => "watch" };
                sb.Append(kind).Append(':').Append(stop.Address.ToString("x", CultureInfo.InvariantCulture)).Append(';');
                break;
            case StopReason.StartOfRecording:
                sb.Append("replaylog:begin;");
                break;
            case StopReason.EndOfRecording:
                sb.Append("replaylog:end;");
                break;
        }
        _ = forwards;
        return sb.ToString();
    }

    // ---- breakpoints and watchpoints ----

    private byte[] ChangeTrap(string args, bool insert)
    {
        // type,addr,kind[;cond...]: conditions are gdb's business, we report every hit.
        int semicolon = args.IndexOf(';');
        if (semicolon >= 0) args = args[..semicolon];
        string[] parts = args.Split(',');
        if (parts.Length != 3 || parts[0].Length != 1) return Error(1);
        uint address = ParseUInt32(parts[1]);
        // A range that runs past 4 GiB is refused: the session would not set such a watchpoint, and
        // gdb must not be told OK for it. (The sum is 64-bit, so it cannot wrap.)
        if (!GdbHex.TryParseNumber(parts[2], out ulong length) || length == 0 || length > 0x1000 || address + length > 1UL << 32)
            return Error(1);
        switch (parts[0][0])
        {
            case '0':
            case '1':
                var mine = parts[0][0] == '0' ? _softwareBreakpoints : _hardwareBreakpoints;
                var other = parts[0][0] == '0' ? _hardwareBreakpoints : _softwareBreakpoints;
                if (insert)
                {
                    mine.Add(address);
                    _session.AddBreakpoint(address);
                }
                else
                {
                    mine.Remove(address);
                    if (!other.Contains(address)) _session.RemoveBreakpoint(address);
                }
                return Ascii("OK");
            case '2':
            case '3':
            case '4':
                var watch = parts[0][0] switch { '2' => WatchKind.Write, '3' => WatchKind.Read, _ => WatchKind.Access };
                if (insert) _session.AddWatchpoint(address, (uint)length, watch);
                else _session.RemoveWatchpoint(address, (uint)length, watch);
                return Ascii("OK");
            default:
                return Empty; // an unknown kind of trap is "not supported", per the protocol
        }
    }

    /// <summary>Clears every trap gdb set: called when gdb goes away without removing them.</summary>
    public void RemoveAllTraps()
    {
        foreach (uint a in _softwareBreakpoints) _session.RemoveBreakpoint(a);
        foreach (uint a in _hardwareBreakpoints) _session.RemoveBreakpoint(a);
        _softwareBreakpoints.Clear();
        _hardwareBreakpoints.Clear();
        foreach (var (address, length, kind) in _session.Watchpoints.ToArray()) _session.RemoveWatchpoint(address, length, kind);
    }

    // ---- helpers ----

    private static byte[] Ascii(string text) => Encoding.Latin1.GetBytes(text);

    private static byte[] Error(int code) => Ascii("E" + code.ToString("x2", CultureInfo.InvariantCulture));

    private static uint ParseUInt32(string text)
    {
        if (!GdbHex.TryParseNumber(text, out ulong value)) throw new FormatException($"'{text}' is not a hex number");
        if (value > uint.MaxValue) throw new OverflowException($"{text} is beyond 32 bits");
        return (uint)value;
    }

    /// <summary>addr,length in hex, as in m, M, X and qXfer.</summary>
    private static (ulong Address, ulong Length) ParseAddressLength(string text)
    {
        int comma = text.IndexOf(',');
        if (comma < 0) throw new FormatException("no comma");
        if (!GdbHex.TryParseNumber(text.AsSpan(0, comma), out ulong address) || !GdbHex.TryParseNumber(text.AsSpan(comma + 1), out ulong length))
            throw new FormatException("bad number");
        return (address, length);
    }
}
