using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using VmFt.Guest.Images;

namespace VmFt.Hypervisor.FaultTolerance.Processes;

/// <summary>
/// <c>vmft demo</c>: kvstore under FT as three processes, a scripted client through the relay,
/// the primary killed in the middle, and the client's transcript compared with a failure-free run.
/// The story goes to a writer, one time-stamped line per step.
/// </summary>
public static class FailoverDemo
{
    /// <summary>The scripted client's lines: PUT/GET/INCR with client and request ids.</summary>
    public static string[] Script(int count)
    {
        var lines = new string[count];
        for (int i = 0; i < count; i++)
        {
            string client = i % 3 == 0 ? "c2" : "c1";
            int id = i / 2 + 1;
            lines[i] = (i % 4) switch
            {
                0 => $"{client} {id} PUT key{i % 7} value{i}",
                1 => $"{client} {id} GET key{(i + 3) % 7}",
                2 => $"{client} {id} INCR counter",
                _ => $"{client} {id} GET counter",
            };
        }
        return lines;
    }

    /// <summary>Runs the demo; 0 when the transcript is the failure-free one, 1 otherwise.</summary>
    public static int Run(int count, int seed, TextWriter output, bool verbose = false)
    {
        var clock = Stopwatch.StartNew();
        string[] lines = Script(count);
        int expected = count + 1; // the banner, then one reply per request
        int killAt = count / 3 + new Random(seed).Next(count / 3);
        void Say(string s)
        {
            lock (output) output.WriteLine($"{clock.Elapsed.TotalSeconds,6:F2}s  {s}");
            output.Flush();
        }

        string baseline = SoloTranscript.Run(BundledImages.Get("kvstore"), "kvstore", 64 << 20, lines, expected);
        using var cluster = new FtProcesses
        {
            Line = (who, line) =>
            {
                // The failover as it happens: the nodes' and the relay's status lines.
                if (verbose || line.Contains("lost") || line.Contains("arbiter") || line.Contains("drained") || line.Contains("live") ||
                    line.Contains("following") || line.Contains("halt") || line.Contains("refused") || line.Contains("vmft"))
                    Say($"[{who}] {line}");
            },
        };
        string address;
        try
        {
            address = cluster.StartAsync(["kvstore"], [], TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
        }
        catch (TimeoutException)
        {
            Say("the relay did not start within 30 s");
            return 1;
        }
        Say($"backup pid {cluster.Backup!.Id}, primary pid {cluster.Primary!.Id}, relay pid {cluster.Relay!.Id}; client connects to {address}");

        var endpoint = IPEndPoint.Parse(address);
        using var client = new TcpClient();
        client.Connect(endpoint);
        var stream = client.GetStream();
        var transcript = new StringBuilder();
        var reader = Task.Run(() =>
        {
            var buffer = new byte[4096];
            int r;
            try
            {
                while ((r = stream.Read(buffer, 0, buffer.Length)) > 0)
                    lock (transcript) transcript.Append(Encoding.ASCII.GetString(buffer, 0, r));
            }
            catch (IOException)
            {
            }
        });

        for (int i = 0; i < lines.Length; i++)
        {
            if (i == killAt)
            {
                Say($"request {i}/{lines.Length} sent: killing the primary (pid {cluster.Primary.Id})");
                cluster.Primary.Kill();
            }
            stream.Write(Encoding.ASCII.GetBytes(lines[i] + "\n"));
            Thread.Sleep(50);
        }
        Say($"all {lines.Length} requests sent; waiting for the replies");
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(15))
        {
            lock (transcript) if (SoloTranscript.CountLines(transcript) >= expected) break;
            Thread.Sleep(20);
        }
        string got;
        lock (transcript) got = transcript.ToString();
        Say($"client got {SoloTranscript.CountLines(new StringBuilder(got))} of {expected} lines");
        int diff = FirstDifference(got, baseline);
        if (diff < 0)
        {
            Say("transcript identical to the failure-free run");
            return 0;
        }
        Say($"transcript differs at byte {diff}: got {Excerpt(got, diff)}, failure-free run has {Excerpt(baseline, diff)}");
        return 1;
    }

    public static int FirstDifference(string a, string b)
    {
        int common = Math.Min(a.Length, b.Length);
        for (int i = 0; i < common; i++) if (a[i] != b[i]) return i;
        return a.Length == b.Length ? -1 : common;
    }

    private static string Excerpt(string s, int at) =>
        at >= s.Length ? "(end)" : "\"" + s.Substring(at, Math.Min(40, s.Length - at)).Replace("\n", "\\n") + "\"";
}
