namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>One request of one logical client, as the load generator saw it (times in run milliseconds).</summary>
public sealed class ClientRequest(string client, long id, string line, double arrivalMs, bool burst, bool warmup = false)
{
    public string Client { get; } = client;
    public long Id { get; } = id;
    /// <summary>The whole line sent (no newline).</summary>
    public string Line { get; } = line;
    /// <summary>When the open-loop schedule said the request arrives (latency counts from here, queueing included).</summary>
    public double ArrivalMs { get; } = arrivalMs;
    public bool Burst { get; } = burst;
    /// <summary>Sent before the measured load (its transcript is checked; its latency is not a figure).</summary>
    public bool Warmup { get; } = warmup;
    public double LastSentMs { get; set; } = double.NaN;
    /// <summary>How often the line went out (1 + retries).</summary>
    public int Sends { get; set; }
    public double? ReplyMs { get; set; }
    public double? LatencyMs => ReplyMs - ArrivalMs;
}
