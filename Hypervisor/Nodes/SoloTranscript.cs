using System.Text;
using VmFt.Guest.Images;
using VmFt.Guest.Loaders;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.FaultTolerance;

namespace VmFt.Hypervisor.Nodes;

/// <summary>
/// The failure-free reference: one machine alone (no backup, no relay, virtual time) fed the
/// client's lines, and the output it produces until the expected number of lines.
/// </summary>
public static class SoloTranscript
{
    public static string Run(byte[] image, string imageName, uint ramSize, IReadOnlyList<string> lines, int expectedLines, ulong maxSteps = 200_000)
    {
        var machine = new PcMachine(new MachineConfiguration { RamSize = ramSize });
        machine.LoadMultiboot(image, imageName, new MultibootOptions());
        var node = new PrimaryNode("solo", 0, machine, new OutputStream(), 1, 0);
        node.ContinueAlone();
        node.OnRelay(new InputFromRelay(0, Encoding.ASCII.GetBytes(string.Concat(lines.Select(l => l + "\n")))));
        var transcript = new StringBuilder();
        for (ulong step = 0; step < maxSteps && CountLines(transcript) < expectedLines; step++)
        {
            bool running = node.Step();
            node.TakeLog();
            foreach (var m in node.TakeRelayMessages())
                if (m is OutputToRelay o) transcript.Append(Encoding.ASCII.GetString(o.Data));
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
