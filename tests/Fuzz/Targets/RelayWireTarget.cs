using System.Buffers;
using VmFt.Hypervisor.FaultTolerance.Relay;

namespace VmFt.Fuzz.Targets;

/// <summary>
/// The node-relay wire format: <see cref="RelayWire.TryDecode"/> frame after frame; every decoded
/// message must encode back to exactly the bytes it came from (two different frames must never
/// read as the same message).
/// </summary>
public sealed class RelayWireTarget : FuzzTarget
{
    public override string Name => "relay";

    public override string Description => "relay wire format: RelayWire.TryDecode, checked against RelayWire.Encode";

    public override void Run(ReadOnlySpan<byte> input)
    {
        byte[] bytes = input.ToArray();
        var buffer = new ReadOnlySequence<byte>(bytes);
        long start = 0;
        while (RelayWire.TryDecode(ref buffer, out var message))
        {
            long end = bytes.Length - buffer.Length;
            byte[] again = RelayWire.Encode(message!);
            if (!again.AsSpan().SequenceEqual(bytes.AsSpan((int)start, (int)(end - start))))
                throw new InvariantException($"the {message!.GetType().Name} decoded from bytes {start}..{end} encodes to other bytes");
            start = end;
        }
    }

    public override bool IsContract(Exception e) => e is InvalidDataException;

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        yield return ("node-messages", Concat(
            RelayWire.Encode(new NodeHello("primary-1")),
            RelayWire.Encode(new OutputToRelay("primary-1", 1, 0, "c1 1 OK\n"u8.ToArray())),
            RelayWire.Encode(new InputLoggedToRelay("primary-1", 1, 12)),
            RelayWire.Encode(new LiveToRelay("backup-1", 2, 12, 8))));
        yield return ("relay-messages", Concat(
            RelayWire.Encode(new InputFromRelay(0, "c1 1 PUT a 1\n"u8.ToArray())),
            RelayWire.Encode(new DeliveredFromRelay(8))));
        yield return ("frame-messages", Concat(
            RelayWire.Encode(new LiveToRelay("backup-1", 2, 12, 8) { FrameInputEnd = 4, FrameOutputEnd = 3 }),
            RelayWire.Encode(new FrameToRelay("backup-1", 2, 3, [0x52, 0x54, 0, 0x12, 0x34, 0x56, 2, 0, 0, 0, 0, 1, 0x08, 0x06])),
            RelayWire.Encode(new FramesLoggedToRelay("backup-1", 2, 5)),
            RelayWire.Encode(new FrameFromRelay(5, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 2, 0, 0, 0, 0, 1, 0x08, 0x06])),
            RelayWire.Encode(new FramesDeliveredFromRelay(4)),
            RelayWire.Encode(new FramesWantedFromRelay(4))));
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
}
