using System.Collections.Concurrent;
using System.Net.Sockets;

namespace VmFt.Hypervisor.Debugging.Gdb;

/// <summary>
/// One attached gdb: a reader thread splits its bytes into packets (acknowledging them, asking for
/// resends of corrupt ones, turning the interrupt byte into a cancellation at once, even in the
/// middle of a long continue) while the calling thread answers the packets in order.
/// </summary>
public sealed class GdbConnection(Stream stream, GdbCommandHandler handler)
{
    private readonly object _sendLock = new();
    private readonly BlockingCollection<GdbInbound> _inbound = new();
    private byte[] _lastSent = [];
    private volatile bool _noAck;

    /// <summary>Answers packets until gdb detaches, kills or disconnects; returns how it left.</summary>
    public GdbSessionEnd Run()
    {
        handler.ConsoleOutput = hex => Send(System.Text.Encoding.Latin1.GetBytes("O" + hex));
        var reader = new Thread(ReadLoop) { IsBackground = true, Name = "gdb reader" };
        reader.Start();
        try
        {
            foreach (var item in _inbound.GetConsumingEnumerable())
            {
                switch (item.Kind)
                {
                    case GdbInboundKind.Packet:
                        byte[]? reply = handler.Handle(item.Payload);
                        if (reply is not null) Send(reply);
                        if (handler.NoAckMode) _noAck = true;
                        if (handler.End != GdbSessionEnd.None) return handler.End;
                        break;
                    case GdbInboundKind.Oversized:
                        Send("E01"u8.ToArray());
                        break;
                    case GdbInboundKind.Nack:
                        lock (_sendLock) Write(_lastSent);
                        break;
                }
            }
            return GdbSessionEnd.None;
        }
        catch (IOException)
        {
            return GdbSessionEnd.None; // gdb went away while we answered
        }
        finally
        {
            handler.RemoveAllTraps();
            stream.Dispose();
        }
    }

    private void ReadLoop()
    {
        var decoder = new GdbPacketDecoder(GdbCommandHandler.PacketSize);
        var items = new List<GdbInbound>();
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                int n = stream.Read(buffer);
                if (n == 0) break;
                items.Clear();
                decoder.Feed(buffer.AsSpan(0, n), items);
                foreach (var item in items)
                {
                    switch (item.Kind)
                    {
                        case GdbInboundKind.Packet:
                        case GdbInboundKind.Oversized:
                            if (!_noAck) lock (_sendLock) Write("+"u8);
                            _inbound.Add(item);
                            break;
                        case GdbInboundKind.BadChecksum:
                            if (!_noAck) lock (_sendLock) Write("-"u8);
                            break;
                        case GdbInboundKind.Interrupt:
                            handler.Interrupt();
                            break;
                        case GdbInboundKind.Nack:
                            if (!_noAck) _inbound.Add(item);
                            break;
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException)
        {
        }
        finally
        {
            handler.Interrupt(); // a motion in progress has no one to report to
            _inbound.CompleteAdding();
        }
    }

    private void Send(byte[] payload)
    {
        byte[] frame = GdbFraming.Frame(payload);
        lock (_sendLock)
        {
            _lastSent = frame;
            Write(frame);
        }
    }

    private void Write(ReadOnlySpan<byte> bytes)
    {
        stream.Write(bytes);
        stream.Flush();
    }
}
