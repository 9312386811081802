using System.Text;
using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.FaultTolerance.Primary;
using VmFt.Hypervisor.FaultTolerance.Relay;

namespace VmFt.Hypervisor.FaultTolerance;

/// <summary>
/// The failure-free reference: one machine alone (no backup, no relay, virtual time) fed the
/// client's lines, and the output it produces until the expected number of lines.
/// </summary>
public static class SoloTranscript
{
    public static string Run(byte[] image, string imageName, uint ramSize, IReadOnlyList<string> lines, int expectedLines, ulong maxSteps = 200_000, string commandLine = "")
    {
        var machine = new PcMachine(new MachineConfiguration { RamSize = ramSize });
        machine.LoadMultiboot(image, imageName, new MultibootOptions { CommandLine = commandLine });
        var node = new PrimaryNode("solo", 0, machine, new OutputStream(), 1, 0);
        node.ContinueAlone(node.Generation);
        node.OnRelay(new InputFromRelay(0, Encoding.ASCII.GetBytes(string.Concat(lines.Select(l => l + "\n")))));
        var transcript = new StringBuilder();
        int seen = 0; // lines so far, counted as output arrives (a long transcript is not rescanned every step)
        for (ulong step = 0; step < maxSteps && seen < expectedLines; step++)
        {
            bool running = node.Step();
            node.TakeLog();
            foreach (var m in node.TakeRelayMessages())
                if (m is OutputToRelay o)
                {
                    transcript.Append(Encoding.ASCII.GetString(o.Data));
                    foreach (byte b in o.Data) if (b == (byte)'\n') seen++;
                }
            if (!running) break;
        }
        return transcript.ToString();
    }

    public static int CountLines(StringBuilder sb)
    {
        int n = 0;
        for (int i = 0; i < sb.Length; i++) if (sb[i] == '\n') n++;
        return n;
    }
}
