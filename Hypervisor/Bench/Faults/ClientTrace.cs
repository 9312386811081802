using System.Text;

namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>What the client side of one run saw: the exact input it sent and the output it got, with times.</summary>
public sealed class ClientTrace
{
    /// <summary>Every line written to the relay, in order, retries included: the guest's input stream.</summary>
    public List<string> SentLines { get; } = [];

    /// <summary>The output as received.</summary>
    public StringBuilder Transcript { get; } = new();

    /// <summary>(offset of the chunk's first byte in the output stream, receive time in run ms, length).</summary>
    public List<(long Offset, double Ms, int Length)> Chunks { get; } = [];

    public List<ClientRequest> Requests { get; } = [];

    /// <summary>Requests scheduled by the open loop during the load (sent or still waiting for a free client).</summary>
    public int Scheduled { get; set; }

    /// <summary>When the byte at <paramref name="offset"/> reached the client (null: never).</summary>
    public double? ReceivedAt(long offset)
    {
        foreach (var c in Chunks)
            if (offset >= c.Offset && offset < c.Offset + c.Length) return c.Ms;
        return null;
    }

    /// <summary>When the first line starting with <paramref name="prefix"/> had fully arrived (null: never).</summary>
    public double? LineReceivedAt(string prefix)
    {
        string text = Transcript.ToString();
        int at = text.StartsWith(prefix, StringComparison.Ordinal) ? 0 : text.IndexOf("\n" + prefix, StringComparison.Ordinal) + 1;
        if (at <= 0 && !text.StartsWith(prefix, StringComparison.Ordinal)) return null;
        int end = text.IndexOf('\n', at);
        return end < 0 ? null : ReceivedAt(end);
    }
}
