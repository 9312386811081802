using VmFt.ReplayLog.Events;

namespace VmFt.ReplayLog.Tests;

public class SnapshotPageCodecTests
{
    private static SnapshotPagesEvent Event(uint pages, (SnapshotPageEncoding Encoding, byte[] Data) encoded) =>
        new(1, 0, 0, pages, encoded.Encoding, encoded.Data);

    [Fact]
    public void Pages_that_compress_are_deflated_and_come_back_whole()
    {
        var pages = new byte[3 * SnapshotPageCodec.PageSize];
        pages[5] = 1;
        pages[^1] = 0xFF;
        var encoded = SnapshotPageCodec.Encode(pages);
        Assert.Equal(SnapshotPageEncoding.Deflate, encoded.Encoding);
        Assert.True(encoded.Data.Length < pages.Length);
        Assert.Equal(pages, SnapshotPageCodec.Decode(Event(3, encoded)));
    }

    [Fact]
    public void Pages_that_do_not_compress_stay_raw()
    {
        var pages = new byte[SnapshotPageCodec.PageSize];
        new Random(7).NextBytes(pages);
        var encoded = SnapshotPageCodec.Encode(pages);
        Assert.Equal(SnapshotPageEncoding.Raw, encoded.Encoding);
        Assert.Equal(pages, SnapshotPageCodec.Decode(Event(1, encoded)));
    }

    [Fact]
    public void Data_that_is_not_the_pages_it_claims_is_refused()
    {
        var one = SnapshotPageCodec.Encode(new byte[SnapshotPageCodec.PageSize]);
        Assert.Contains("not 2 pages", Assert.Throws<InvalidDataException>(() => SnapshotPageCodec.Decode(Event(2, one))).Message);
        var two = SnapshotPageCodec.Encode(new byte[2 * SnapshotPageCodec.PageSize]);
        Assert.Contains("more than 1 pages", Assert.Throws<InvalidDataException>(() => SnapshotPageCodec.Decode(Event(1, two))).Message);
        Assert.Contains("raw bytes", Assert.Throws<InvalidDataException>(() =>
            SnapshotPageCodec.Decode(new SnapshotPagesEvent(1, 0, 0, 1, SnapshotPageEncoding.Raw, new byte[100]))).Message);
        Assert.Throws<InvalidDataException>(() => SnapshotPageCodec.Decode(new SnapshotPagesEvent(1, 0, 0, 1, SnapshotPageEncoding.Deflate, [1, 2, 3])));
        Assert.Throws<ArgumentException>(() => SnapshotPageCodec.Encode(new byte[100]));
    }
}
