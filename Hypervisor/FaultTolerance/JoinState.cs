using System.Buffers.Binary;
using VmFt.Guest.Machine;

namespace VmFt.Hypervisor.FaultTolerance;

/// <summary>
/// The machine state a primary streams to a joining backup, as the bodies of the channel's State
/// frames (the frame's kind says which of these it is). RAM goes as <see cref="PagesKind"/> frames,
/// round after round while the guest runs (a page may come again: the last copy counts); the rest
/// goes once the guest stood still, in <see cref="FinalPartKind"/> pieces ending with a
/// <see cref="FinalKind"/> one: where the log goes on and the CPU, devices and node state there.
/// <para>Pages: <c>version:u8 count:u16 then count x (page:u32 bytes:4096)</c>. Final, once joined
/// up: <c>version:u8 position:u64 firstSequence:u64 generation:u64 inputEnd:u64 stateHash:u64
/// rounds:u32 outputStart:u64 then output, CPU and device state each as length:u32 bytes</c>.</para>
/// <para>The state is no log event: it has no position of its own, is never replayed from a
/// recording and is not acknowledged; the log that follows it is the ordinary one.</para>
/// </summary>
public static class JoinState
{
    public const ulong PagesKind = 1;
    public const ulong FinalPartKind = 2;
    public const ulong FinalKind = 3;

    /// <summary>Bump when a layout here changes; a joiner refuses any other.</summary>
    public const byte Version = 1;

    private const int PageSize = MachineSnapshot.PageSize;

    /// <summary>
    /// Pages per frame: 64 KiB and a little, under the runtime's large-object threshold (85,000
    /// bytes), so the buffers of a copy of hundreds of MiB, on both nodes, are ordinary short-lived
    /// objects and never drive full collections (frames of 1 MiB made the joiner stall for longer
    /// than the peer timeout).
    /// </summary>
    public const int PagesPerFrame = 16;

    /// <summary>Largest piece of the final state in one frame.</summary>
    public const int FinalPieceBytes = 512 << 10;

    /// <summary>One Pages body: <paramref name="pages"/> as RAM holds them now.</summary>
    public static byte[] EncodePages(byte[] ram, ReadOnlySpan<int> pages)
    {
        if (pages.Length > PagesPerFrame) throw new ArgumentException($"at most {PagesPerFrame} pages a frame", nameof(pages));
        var body = new byte[3 + pages.Length * (4 + PageSize)];
        body[0] = Version;
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(1), (ushort)pages.Length);
        int at = 3;
        foreach (int page in pages)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(at), (uint)page);
            ram.AsSpan(page * PageSize, PageSize).CopyTo(body.AsSpan(at + 4));
            at += 4 + PageSize;
        }
        return body;
    }

    /// <summary>Puts a Pages body's pages into <paramref name="pages"/>; returns how many it held.</summary>
    /// <exception cref="InvalidDataException">The body is not a Pages body of this version for this RAM size.</exception>
    public static int DecodePages(ReadOnlySpan<byte> body, byte[]?[] pages)
    {
        CheckVersion(body, "pages");
        if (body.Length < 3) throw new InvalidDataException($"join state: a pages frame of {body.Length} bytes");
        int count = BinaryPrimitives.ReadUInt16LittleEndian(body[1..]);
        if (body.Length != 3 + count * (4 + PageSize))
            throw new InvalidDataException($"join state: a pages frame of {body.Length} bytes cannot hold {count} pages");
        int at = 3;
        for (int i = 0; i < count; i++, at += 4 + PageSize)
        {
            uint page = BinaryPrimitives.ReadUInt32LittleEndian(body[at..]);
            if (page >= (uint)pages.Length)
                throw new InvalidDataException($"join state: page {page} is beyond this machine's {pages.Length} pages of RAM (the primary has more: give the same --mem)");
            pages[page] = body.Slice(at + 4, PageSize).ToArray();
        }
        return count;
    }

    public static byte[] EncodeFinal(JoinFinal f)
    {
        var w = new MemoryStream();
        using (var b = new BinaryWriter(w))
        {
            b.Write(Version);
            b.Write(f.Position);
            b.Write(f.FirstSequence);
            b.Write(f.Generation);
            b.Write(f.InputEnd);
            b.Write(f.StateHash);
            b.Write(f.Rounds);
            b.Write(f.OutputStart);
            foreach (var part in new[] { f.Output, f.CpuState, f.DeviceState })
            {
                b.Write(part.Length);
                b.Write(part);
            }
        }
        return w.ToArray();
    }

    /// <exception cref="InvalidDataException">The bytes are not a final state of this version.</exception>
    public static JoinFinal DecodeFinal(ReadOnlySpan<byte> body)
    {
        CheckVersion(body, "final state");
        try
        {
            using var r = new BinaryReader(new MemoryStream(body.ToArray()));
            r.ReadByte();
            ulong position = r.ReadUInt64(), first = r.ReadUInt64(), generation = r.ReadUInt64(), input = r.ReadUInt64(), hash = r.ReadUInt64();
            uint rounds = r.ReadUInt32();
            ulong outputStart = r.ReadUInt64();
            byte[][] parts = new byte[3][];
            for (int i = 0; i < 3; i++)
            {
                int length = r.ReadInt32();
                if (length < 0 || length > body.Length) throw new InvalidDataException($"join state: a part of {length} bytes in a final state of {body.Length}");
                parts[i] = r.ReadBytes(length);
                if (parts[i].Length != length) throw new EndOfStreamException();
            }
            if (r.BaseStream.Position != body.Length) throw new InvalidDataException($"join state: {body.Length - r.BaseStream.Position} bytes after the final state");
            if (first == 0) throw new InvalidDataException("join state: the log cannot go on at sequence 0");
            return new JoinFinal(position, first, generation, input, hash, rounds, outputStart, parts[0], parts[1], parts[2]);
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"join state: a final state of {body.Length} bytes is cut short");
        }
    }

    private static void CheckVersion(ReadOnlySpan<byte> body, string what)
    {
        if (body.Length == 0 || body[0] != Version)
            throw new InvalidDataException(body.Length == 0
                ? $"join state: an empty {what} frame"
                : $"join state: {what} of version {body[0]} (this node reads version {Version})");
    }
}

/// <summary>
/// Where a joined backup starts: the primary's state once the guest stood still at
/// <see cref="Position"/>, and the log from <see cref="FirstSequence"/> on (a checkpoint there,
/// whose hash is <see cref="StateHash"/>).
/// </summary>
/// <param name="Generation">The arbiter generation the primary serves in; the backup contends for the next.</param>
/// <param name="InputEnd">Client input the guest has taken (the relay re-sends from here after a failover).</param>
/// <param name="Rounds">Pre-copy rounds before the guest stood still.</param>
/// <param name="OutputStart">Offset of <paramref name="Output"/>: the guest's output the client may not have yet.</param>
public sealed record JoinFinal(ulong Position, ulong FirstSequence, ulong Generation, ulong InputEnd, ulong StateHash, uint Rounds,
    ulong OutputStart, byte[] Output, byte[] CpuState, byte[] DeviceState);
