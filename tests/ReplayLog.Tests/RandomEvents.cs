using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Format;

namespace VmFt.ReplayLog.Tests;

/// <summary>Random but reproducible event lists, biased towards edge values.</summary>
internal static class RandomEvents
{
    public static List<LogEvent> List(Random random, int count, ulong firstSequence = 1)
    {
        var events = new List<LogEvent>(count);
        ulong position = random.Next(4) == 0 ? 0 : Value(random);
        for (int i = 0; i < count; i++)
        {
            // Mostly increasing positions as a recorder produces them, sometimes anything at all.
            position = random.Next(10) switch
            {
                0 => Value(random),
                1 or 2 => position,
                _ => position + (ulong)random.Next(1, 100_000),
            };
            events.Add(One(random, firstSequence + (ulong)i, position));
        }
        return events;
    }

    public static LogEvent One(Random random, ulong sequence, ulong position) => (LogEventKind)random.Next(1, 11) switch
    {
        LogEventKind.TimeSet => new TimeSetEvent(sequence, position, Value(random)),
        LogEventKind.SerialInput => new SerialInputEvent(sequence, position, Value(random), Bytes(random)),
        LogEventKind.Checkpoint => new CheckpointEvent(sequence, position, Value(random)),
        LogEventKind.OutputMarker => new OutputMarkerEvent(sequence, position, Value(random)),
        LogEventKind.GuestExit => new GuestExitEvent(sequence, position, (byte)random.Next(256), random.Next(4) switch
        {
            0 => int.MinValue,
            1 => int.MaxValue,
            2 => -1,
            _ => random.Next(int.MinValue, int.MaxValue),
        }),
        LogEventKind.SnapshotState => new SnapshotStateEvent(sequence, position, Bytes(random, 2000), Bytes(random, 500), (uint)Value(random)),
        LogEventKind.SnapshotPages => new SnapshotPagesEvent(sequence, position, (uint)Value(random), (uint)random.Next(1, LogBlockCodec.MaxSnapshotPagesPerEvent + 1),
            (SnapshotPageEncoding)random.Next(2), Bytes(random, 5000)),
        LogEventKind.DiskRead => new DiskReadEvent(sequence, position, Value(random), (byte)random.Next(3), Bytes(random, 3000)),
        LogEventKind.DiskCompletion => new DiskCompletionEvent(sequence, position, Value(random), (byte)random.Next(256)),
        _ => new PositionBeaconEvent(sequence, position),
    };

    private static byte[] Bytes(Random random, int maximum)
    {
        var bytes = new byte[random.Next(maximum + 1)];
        random.NextBytes(bytes);
        return bytes;
    }

    public static ulong Value(Random random) => random.Next(8) switch
    {
        0 => 0,
        1 => ulong.MaxValue,
        2 => ulong.MaxValue - (ulong)random.Next(1000),
        3 => (ulong)random.Next(128),
        4 => 1UL << random.Next(64),
        _ => (ulong)random.NextInt64() ^ ((ulong)random.Next(2) << 63),
    };

    private static byte[] Bytes(Random random)
    {
        int length = random.Next(50) switch
        {
            0 => LogBlockCodec.MaxSerialInputLength,
            1 => 0,
            _ => random.Next(1, 300),
        };
        var data = new byte[length];
        random.NextBytes(data);
        return data;
    }
}
