using System.Globalization;
using System.Text;
using VmFt.Guest.Processor;
using VmFt.Hypervisor.Debugging;
using VmFt.Hypervisor.Debugging.Gdb;
using VmFt.ReplayLog.Recording;

namespace VmFt.Fuzz.Targets;

/// <summary>
/// What gdb sends the replay stub: the bytes go through <see cref="GdbPacketDecoder"/>, and every
/// packet is answered by a <see cref="GdbCommandHandler"/> over a replay session of the hello guest.
/// The handler turns a failure into an E16 reply and a "replay stub:" console line: with a sound
/// recording such a line is a bug (unless gdb changed the state and the guest then stopped where
/// the recording goes on), and so is an "OK" to a watchpoint that was not set.
/// </summary>
public sealed class GdbTarget : FuzzTarget
{
    private ReplaySession? _session;

    public override string Name => "gdb";

    public override string Description => "gdb remote protocol: GdbPacketDecoder, GdbCommandHandler over a replay session";

    public override void Run(ReadOnlySpan<byte> input)
    {
        var session = _session ??= new ReplaySession(RecordingReader.ReadAll(SeedRecordings.Hello()), "hello.vmrec");
        var handler = new GdbCommandHandler(session);
        string? failure = null;
        handler.ConsoleOutput = hex =>
        {
            string text = Encoding.Latin1.GetString(GdbHex.Decode(hex) ?? []);
            // A guest sent off into the weeds by a changed register or memory may stop (a triple
            // fault, a halt) where the recording goes on: the stub says so and stays up.
            bool handMade = session.IsModified && text.StartsWith("replay stub: DivergenceException:", StringComparison.Ordinal);
            if (text.StartsWith("replay stub:", StringComparison.Ordinal) && !handMade) failure ??= text.TrimEnd();
        };
        var decoder = new GdbPacketDecoder(GdbCommandHandler.PacketSize);
        var items = new List<GdbInbound>();
        decoder.Feed(input, items);
        try
        {
            foreach (var item in items)
            {
                if (item.Kind != GdbInboundKind.Packet) continue;
                byte[]? reply = handler.Handle(item.Payload);
                if (failure is not null) throw new InvariantException($"packet '{Shorten(item.Text)}': {failure}");
                if (reply is not null) _ = GdbFraming.Frame(reply);
                CheckWatchpoint(session, item.Text, reply);
                if (handler.End != GdbSessionEnd.None) break;
            }
        }
        finally
        {
            // The next input starts where a fresh connection would.
            handler.RemoveAllTraps();
            session.Goto(0);
        }
    }

    /// <summary>An OK to Z2/Z3/Z4 means gdb will rely on the watchpoint: it must be there.</summary>
    private static void CheckWatchpoint(ReplaySession session, string packet, byte[]? reply)
    {
        if (reply is null || Encoding.Latin1.GetString(reply) != "OK" || packet.Length < 2 || packet[0] != 'Z' || packet[1] is not ('2' or '3' or '4')) return;
        string[] parts = packet.Split(';')[0].Split(',');
        if (parts.Length != 3
            || !uint.TryParse(parts[1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint address)
            || !uint.TryParse(parts[2], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint length))
            return;
        var kind = packet[1] switch { '2' => WatchKind.Write, '3' => WatchKind.Read, _ => WatchKind.Access };
        if (!session.Watchpoints.Contains((address, length, kind)))
            throw new InvariantException($"packet '{Shorten(packet)}' was answered OK, but no {kind} watchpoint 0x{address:x}+{length} is set");
    }

    private static string Shorten(string text) => text.Length <= 60 ? text : text[..60] + "...";

    public override bool IsContract(Exception e) => false;

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        yield return ("connect", Packets("qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+", "QStartNoAckMode", "?", "qXfer:features:read:target.xml:0,ffb",
            "qAttached", "qC", "qfThreadInfo", "qsThreadInfo", "Hg0", "g", "p8", "m100000,40", "qOffsets", "vCont?", "qSymbol::", "D"));
        yield return ("motion", Packets("Z0,100010,1", "c", "z0,100010,1", "s", "vCont;s:1", "bs", "bc", "s100000", "C05;100000", "S05"));
        yield return ("watch", Packets("Z2,100020,4", "Z3,200000,2", "Z4,300000,1", "c", "z2,100020,4", "bc", "z3,200000,2", "z4,300000,1"));
        yield return ("write", Packets("P0=78563412", "G" + new string('0', 2 * 100), "M200000,4:01020304", "X200010,2:ab", "m200000,20"));
        yield return ("monitor", Packets("qRcmd," + GdbHex.Encode("when"), "qRcmd," + GdbHex.Encode("goto 1000"), "qRcmd," + GdbHex.Encode("events 500"),
            "qRcmd," + GdbHex.Encode("snapshot"), "qRcmd," + GdbHex.Encode("help"), "k"));
        yield return ("noise", Encoding.Latin1.GetBytes("+-\u0003$g#00$qC#b4*junk$g#67+"));
    }

    private static byte[] Packets(params string[] payloads) =>
        payloads.SelectMany(p => GdbFraming.Frame(p).Prepend((byte)'+')).ToArray();
}
