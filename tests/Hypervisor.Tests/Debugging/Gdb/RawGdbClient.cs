using System.Net.Sockets;
using System.Text;
using VmFt.Hypervisor.Debugging.Gdb;

namespace VmFt.Hypervisor.Tests.Debugging.Gdb;

/// <summary>A minimal remote-protocol client speaking raw bytes, to send what gdb never would.</summary>
internal sealed class RawGdbClient(TcpClient client) : IDisposable
{
    private readonly NetworkStream _stream = client.GetStream();
    public List<string> ConsoleText { get; } = new();

    public void SendRaw(string bytes) => _stream.Write(Encoding.Latin1.GetBytes(bytes));

    public void Send(string payload) => _stream.Write(GdbFraming.Frame(payload));

    public int ReadByte()
    {
        int b = _stream.ReadByte();
        if (b < 0) throw new IOException("the server closed the connection");
        return b;
    }

    /// <summary>The next packet's payload (acks skipped, O packets collected into <see cref="ConsoleText"/>), acknowledged with '+'.</summary>
    public string Receive(bool collectConsole = true)
    {
        while (true)
        {
            int b;
            while ((b = ReadByte()) != '$') { }
            var payload = new StringBuilder();
            while ((b = ReadByte()) != '#') payload.Append((char)b);
            string cs = $"{(char)ReadByte()}{(char)ReadByte()}";
            string text = payload.ToString();
            if (cs != GdbFraming.Checksum(Encoding.Latin1.GetBytes(text)).ToString("x2")) throw new InvalidDataException($"bad checksum on {text}");
            _stream.WriteByte((byte)'+');
            if (collectConsole && text.StartsWith('O') && text != "OK" && text.Length > 1)
            {
                ConsoleText.Add(Encoding.UTF8.GetString(GdbHex.Decode(text.AsSpan(1))!));
                continue;
            }
            return text;
        }
    }

    /// <summary>Sends a packet, expects '+', returns the reply.</summary>
    public string Ask(string payload)
    {
        Send(payload);
        int ack = ReadByte();
        if (ack != '+') throw new InvalidDataException($"expected '+' for {payload}, got '{(char)ack}'");
        return Receive();
    }

    public void Dispose() => client.Dispose();
}
