namespace VmFt.Hypervisor.Debugging.Gdb;

/// <summary>
/// Splits gdb's byte stream into packets, acks and interrupts, fed in any chunking. Bytes outside
/// a packet other than <c>+ - 0x03 $</c> are noise and skipped; a packet longer than
/// <see cref="MaxPayload"/> is reported as <see cref="GdbInboundKind.Oversized"/> rather than buffered.
/// </summary>
public sealed class GdbPacketDecoder(int maxPayload)
{
    private enum State { Idle, Payload, Checksum1, Checksum2 }

    private readonly List<byte> _payload = new();
    private State _state;
    private bool _overflow;
    private int _checksumHigh;
    private byte _sum;

    public int MaxPayload { get; } = maxPayload;

    public void Feed(ReadOnlySpan<byte> data, List<GdbInbound> output)
    {
        foreach (byte b in data)
        {
            switch (_state)
            {
                case State.Idle:
                    if (b == (byte)'$') StartPacket();
                    else if (b == (byte)'+') output.Add(new(GdbInboundKind.Ack, []));
                    else if (b == (byte)'-') output.Add(new(GdbInboundKind.Nack, []));
                    else if (b == 0x03) output.Add(new(GdbInboundKind.Interrupt, []));
                    break;
                case State.Payload:
                    if (b == (byte)'#') _state = State.Checksum1;
                    else if (b == (byte)'$') StartPacket(); // a lost '#': the new start wins
                    else
                    {
                        _sum += b;
                        if (_payload.Count < MaxPayload) _payload.Add(b);
                        else _overflow = true;
                    }
                    break;
                case State.Checksum1:
                    _checksumHigh = GdbHex.Value((char)b);
                    _state = State.Checksum2;
                    break;
                case State.Checksum2:
                    int low = GdbHex.Value((char)b);
                    _state = State.Idle;
                    if (_checksumHigh < 0 || low < 0 || (byte)(_checksumHigh << 4 | low) != _sum)
                        output.Add(new(GdbInboundKind.BadChecksum, []));
                    else if (_overflow)
                        output.Add(new(GdbInboundKind.Oversized, []));
                    else
                        output.Add(new(GdbInboundKind.Packet, ExpandRunLengths(_payload)));
                    break;
            }
        }
    }

    private void StartPacket()
    {
        _state = State.Payload;
        _payload.Clear();
        _overflow = false;
        _sum = 0;
    }

    /// <summary>
    /// <c>X*n</c> means X repeated n - 29 more times. gdb does not send it, but the protocol allows
    /// it in both directions; an escaped <c>*</c> (after <c>}</c>) is data, not a repeat.
    /// </summary>
    private static byte[] ExpandRunLengths(List<byte> raw)
    {
        if (!raw.Contains((byte)'*')) return raw.ToArray();
        var output = new List<byte>(raw.Count + 16);
        for (int i = 0; i < raw.Count; i++)
        {
            byte b = raw[i];
            if (b == GdbFraming.Escape && i + 1 < raw.Count)
            {
                output.Add(b);
                output.Add(raw[++i]);
            }
            else if (b == (byte)'*' && output.Count > 0 && i + 1 < raw.Count && raw[i + 1] >= 29 + 3 && raw[i + 1] <= 126)
            {
                int repeat = raw[++i] - 29;
                byte previous = output[^1];
                for (int k = 0; k < repeat; k++) output.Add(previous);
            }
            else
            {
                output.Add(b);
            }
        }
        return output.ToArray();
    }
}
