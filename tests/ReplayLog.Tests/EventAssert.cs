using VmFt.ReplayLog.Events;

namespace VmFt.ReplayLog.Tests;

/// <summary>Compares events by value, including the bytes of serial input (records compare arrays by reference).</summary>
internal static class EventAssert
{
    public static bool Same(LogEvent a, LogEvent b) => (a, b) switch
    {
        (SerialInputEvent x, SerialInputEvent y) => x.Sequence == y.Sequence && x.Position == y.Position
            && x.InputOffset == y.InputOffset && x.Data.AsSpan().SequenceEqual(y.Data),
        (SnapshotStateEvent x, SnapshotStateEvent y) => x.Sequence == y.Sequence && x.Position == y.Position && x.RamPages == y.RamPages
            && x.CpuState.AsSpan().SequenceEqual(y.CpuState) && x.DeviceState.AsSpan().SequenceEqual(y.DeviceState),
        (SnapshotPagesEvent x, SnapshotPagesEvent y) => x.Sequence == y.Sequence && x.Position == y.Position && x.FirstPage == y.FirstPage
            && x.PageCount == y.PageCount && x.Encoding == y.Encoding && x.Data.AsSpan().SequenceEqual(y.Data),
        (DiskReadEvent x, DiskReadEvent y) => x.Sequence == y.Sequence && x.Position == y.Position && x.RequestId == y.RequestId
            && x.Status == y.Status && x.Data.AsSpan().SequenceEqual(y.Data),
        (NetReceiveEvent x, NetReceiveEvent y) => x.Sequence == y.Sequence && x.Position == y.Position && x.FrameIndex == y.FrameIndex && x.Frame.AsSpan().SequenceEqual(y.Frame),
        _ => a.Equals(b),
    };

    public static void Equal(IReadOnlyList<LogEvent> expected, IReadOnlyList<LogEvent> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
            Assert.True(Same(expected[i], actual[i]), $"event {i}: expected {expected[i]}, got {actual[i]}");
    }

    /// <summary>What was read before an error must be exactly the first events of what was written.</summary>
    public static void IsPrefix(IReadOnlyList<LogEvent> full, IReadOnlyList<LogEvent> prefix)
    {
        Assert.True(prefix.Count <= full.Count, $"read {prefix.Count} events from a log of {full.Count}");
        for (int i = 0; i < prefix.Count; i++)
            Assert.True(Same(full[i], prefix[i]), $"event {i}: expected {full[i]}, got {prefix[i]}");
    }
}
