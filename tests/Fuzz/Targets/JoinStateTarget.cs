using VmFt.Hypervisor.FaultTolerance;

namespace VmFt.Fuzz.Targets;

/// <summary>
/// The live copy a joining backup takes from a primary (<see cref="JoinState"/>): the first byte
/// picks a Pages or a final state body, the rest is the body, decoded for a machine of 64 pages.
/// </summary>
public sealed class JoinStateTarget : FuzzTarget
{
    public override string Name => "join-state";

    public override string Description => "a joining backup's State frame bodies: JoinState pages and final state";

    public override void Run(ReadOnlySpan<byte> input)
    {
        if (input.Length == 0) return;
        var body = input[1..];
        if ((input[0] & 1) == 0)
        {
            var pages = new byte[]?[64];
            int count = JoinState.DecodePages(body, pages);
            if (count > pages.Length * 2 + JoinState.PagesPerFrame) throw new InvariantException($"{count} pages from {body.Length} bytes");
        }
        else
        {
            var final = JoinState.DecodeFinal(body);
            if (final.Output.Length + final.CpuState.Length + final.DeviceState.Length > body.Length)
                throw new InvariantException("the final state's parts are longer than its body");
        }
    }

    public override bool IsContract(Exception e) => e is InvalidDataException;

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        var ram = new byte[64 * 4096];
        for (int i = 0; i < ram.Length; i++) ram[i] = (byte)(i * 31);
        yield return ("pages", [0, .. JoinState.EncodePages(ram, [0, 5, 63])]);
        yield return ("final", [1, .. JoinState.EncodeFinal(new JoinFinal(1_000_000, 42, 1, 17, 0x1234_5678_9ABC_DEF0, 3, 100, [65, 66], [1, 2, 3, 4], [9, 8, 7]))]);
    }
}
