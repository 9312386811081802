using System.Buffers;
using System.Buffers.Binary;
using VmFt.Hypervisor.FaultTolerance.Relay;
using Xunit;

namespace VmFt.Hypervisor.Tests.FaultTolerance;

public class RelayWireTests
{
    public static TheoryData<object> Messages() => new()
    {
        new NodeHello("backup"),
        new OutputToRelay("primary", 3, 1234567890123, [1, 2, 3, 0, 255]),
        new InputLoggedToRelay("n", 1, 42),
        new LiveToRelay("b", 1, 500, 700),
        new InputFromRelay(99, [10, 20]),
        new InputFromRelay(0, []),
        new DeliveredFromRelay(ulong.MaxValue),
        new LiveToRelay("b", 2, 500, 700) { FrameInputEnd = 3, FrameOutputEnd = 0 },
        new LiveToRelay("b", 2, 0, 0) { FrameInputEnd = 0, FrameOutputEnd = ulong.MaxValue },
        new FrameToRelay("primary", 1, 77, [0x52, 0x54, 0, 1, 2, 3]),
        new FrameToRelay("primary", 1, 0, []),
        new FramesLoggedToRelay("n", 4, 9),
        new FrameFromRelay(12, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1]),
        new FramesDeliveredFromRelay(13),
        new FramesWantedFromRelay(0),
    };

    [Theory]
    [MemberData(nameof(Messages))]
    public void RoundTripsWhenSplitAnywhere(object message)
    {
        byte[] frame = RelayWire.Encode(message);
        for (int cut = 0; cut < frame.Length; cut++)
        {
            var partial = new ReadOnlySequence<byte>(frame.AsMemory(0, cut));
            Assert.False(RelayWire.TryDecode(ref partial, out _));
            Assert.Equal(cut, partial.Length); // nothing consumed
        }
        // Two frames back to back decode one at a time.
        var both = new ReadOnlySequence<byte>([.. frame, .. frame]);
        for (int i = 0; i < 2; i++)
        {
            Assert.True(RelayWire.TryDecode(ref both, out var decoded));
            Assert.Equal(Describe(message), Describe(decoded!));
        }
        Assert.Equal(0, both.Length);
    }

    // Records with byte[] compare by reference: compare their contents too.
    private static string Describe(object m) => m switch
    {
        OutputToRelay o => $"out {o.NodeId} {o.Generation} {o.Offset} {Convert.ToHexString(o.Data)}",
        InputFromRelay i => $"in {i.Offset} {Convert.ToHexString(i.Data)}",
        FrameToRelay f => $"frame out {f.NodeId} {f.Generation} {f.Index} {Convert.ToHexString(f.Frame)}",
        FrameFromRelay f => $"frame in {f.Index} {Convert.ToHexString(f.Frame)}",
        _ => m.ToString()!,
    };

    [Fact]
    public void OversizedLengthIsRefusedBeforeTheBodyArrives()
    {
        var frame = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(frame, RelayWire.MaxBodyLength + 1);
        var seq = new ReadOnlySequence<byte>(frame);
        Assert.Throws<InvalidDataException>(() => RelayWire.TryDecode(ref seq, out _));
    }

    [Theory]
    [InlineData(new byte[] { 1, 0, 0, 0, 99 })]                      // unknown type
    [InlineData(new byte[] { 3, 0, 0, 0, 6, 0, 0 })]                 // delivered, truncated offset
    [InlineData(new byte[] { 0, 0, 0, 0 })]                          // empty body
    [InlineData(new byte[] { 4, 0, 0, 0, 1, 200, 0, 65 })]           // hello whose id length overruns the body
    [InlineData(new byte[] { 4, 0, 0, 0, 9, 1, 2, 3 })]              // frame in, truncated number
    [InlineData(new byte[] { 14, 0, 0, 0, 8, 1, 0, 65, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0 })] // frames logged, truncated end
    [InlineData(new byte[] { 10, 0, 0, 0, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0 })]    // frames wanted, one trailing byte
    [InlineData(new byte[] { 1, 0, 0, 0, 13 })]                       // a type after the last
    public void MalformedFramesAreRefused(byte[] frame)
    {
        var seq = new ReadOnlySequence<byte>(frame);
        Assert.Throws<InvalidDataException>(() => RelayWire.TryDecode(ref seq, out _));
    }

    [Fact]
    public void NodeIdThatIsNotUtf8IsRefused()
    {
        // Found by the relay fuzz target: 0x80 and "\uFFFD" decoded to the same id.
        byte[] frame = RelayWire.Encode(new NodeHello("primary"));
        frame[7] = 0x80;
        var seq = new ReadOnlySequence<byte>(frame);
        var e = Assert.Throws<InvalidDataException>(() => RelayWire.TryDecode(ref seq, out _));
        Assert.Contains("not valid UTF-8", e.Message);
    }

    [Fact]
    public void TrailingBytesAfterAFixedMessageAreRefused()
    {
        byte[] frame = RelayWire.Encode(new DeliveredFromRelay(5));
        byte[] longer = [.. frame, 0];
        BinaryPrimitives.WriteUInt32LittleEndian(longer, (uint)(frame.Length - 4 + 1));
        var seq = new ReadOnlySequence<byte>(longer);
        Assert.Throws<InvalidDataException>(() => RelayWire.TryDecode(ref seq, out _));
    }

    [Fact]
    public void AnAnnouncementWithFramePositionsOfZeroHasOneEncodingOnly()
    {
        // The plain announcement says the same: a second encoding of it would let two byte strings be one message.
        byte[] plain = RelayWire.Encode(new LiveToRelay("b", 1, 2, 3));
        byte[] withFrames = RelayWire.Encode(new LiveToRelay("b", 1, 2, 3) { FrameInputEnd = 1 });
        Assert.Equal(plain.Length + 16, withFrames.Length);
        withFrames[^16] = 0; // FrameInputEnd back to zero
        var seq = new ReadOnlySequence<byte>(withFrames);
        var e = Assert.Throws<InvalidDataException>(() => RelayWire.TryDecode(ref seq, out _));
        Assert.Contains("no frame positions", e.Message);
    }
}
