using System.Globalization;
using System.Net;

namespace VmFt.Hypervisor.Cli;

/// <summary>HOST:PORT and PORT arguments as endpoints; bad text becomes a <see cref="UsageException"/>.</summary>
public static class EndPointParser
{
    public static IPEndPoint Parse(string text, string option, bool portAlone = false)
    {
        string host = "127.0.0.1", port = text;
        int colon = text.LastIndexOf(':');
        if (colon >= 0)
        {
            host = text[..colon];
            port = text[(colon + 1)..];
        }
        else if (!portAlone)
        {
            throw new UsageException($"{option}: '{text}' is not HOST:PORT");
        }
        if (!ushort.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out ushort p))
            throw new UsageException($"{option}: '{port}' is not a port number (0-65535)");
        if (host is "localhost" or "") return new IPEndPoint(IPAddress.Loopback, p);
        if (IPAddress.TryParse(host.Trim('[', ']'), out var address)) return new IPEndPoint(address, p);
        try
        {
            var addresses = Dns.GetHostAddresses(host);
            if (addresses.Length > 0) return new IPEndPoint(addresses[0], p);
        }
        catch (System.Net.Sockets.SocketException)
        {
        }
        throw new UsageException($"{option}: cannot resolve host '{host}'");
    }
}
