using System.IO.Compression;

namespace VmFt.ReplayLog.Events;

/// <summary>
/// The RAM pages a <see cref="SnapshotPagesEvent"/> carries, in and out of their
/// <see cref="SnapshotPageEncoding"/>: Deflate when it is smaller, the raw bytes otherwise.
/// </summary>
public static class SnapshotPageCodec
{
    /// <summary>Bytes per page: the guest's 4 KiB pages.</summary>
    public const int PageSize = 4096;

    /// <summary>Encodes a run of whole pages.</summary>
    public static (SnapshotPageEncoding Encoding, byte[] Data) Encode(ReadOnlySpan<byte> pages)
    {
        if (pages.Length % PageSize != 0) throw new ArgumentException($"{pages.Length} bytes are not whole {PageSize}-byte pages", nameof(pages));
        using var compressed = new MemoryStream();
        using (var deflate = new DeflateStream(compressed, CompressionLevel.Fastest, leaveOpen: true)) deflate.Write(pages);
        return compressed.Length < pages.Length ? (SnapshotPageEncoding.Deflate, compressed.ToArray()) : (SnapshotPageEncoding.Raw, pages.ToArray());
    }

    /// <summary>The pages <paramref name="e"/> holds, decoded.</summary>
    /// <exception cref="InvalidDataException">The data is not <see cref="SnapshotPagesEvent.PageCount"/> pages in its encoding.</exception>
    public static byte[] Decode(SnapshotPagesEvent e)
    {
        long length = (long)e.PageCount * PageSize;
        if (length > Array.MaxLength) throw new InvalidDataException($"{e.PageCount} pages do not fit in memory");
        if (e.Encoding == SnapshotPageEncoding.Raw)
        {
            if (e.Data.Length != length) throw new InvalidDataException($"{e.Data.Length} raw bytes for {e.PageCount} pages");
            return e.Data;
        }
        var pages = new byte[length];
        // A corrupt stream throws InvalidDataException from the DeflateStream itself.
        using var deflate = new DeflateStream(new MemoryStream(e.Data), CompressionMode.Decompress);
        int read = 0;
        while (read < pages.Length)
        {
            int n = deflate.Read(pages, read, pages.Length - read);
            if (n == 0) throw new InvalidDataException($"the compressed data holds {read} bytes, not {e.PageCount} pages");
            read += n;
        }
        if (deflate.Read(new byte[1], 0, 1) != 0) throw new InvalidDataException($"the compressed data holds more than {e.PageCount} pages");
        return pages;
    }
}
