using System.Buffers;
using System.IO.Pipelines;
using VmFt.Channel.Framing;

namespace VmFt.Channel.Tests;

internal static class ChannelTestKit
{
    public static readonly Guid VmId = new("6f1d2c3b-0000-4000-8000-00000000a001");
    public static readonly byte[] Secret = "correct horse battery staple"u8.ToArray();

    /// <summary>Generous limits: the test machine is small and shared.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    public static LogChannelOptions Options(ChannelRole role, Guid? vmId = null, byte[]? secret = null,
        TimeSpan? peerTimeout = null, TimeSpan? heartbeat = null, long window = 8 << 20, TimeProvider? time = null) => new()
    {
        TimeProvider = time ?? TimeProvider.System,
        VmId = vmId ?? VmId,
        LocalRole = role,
        SharedSecret = secret ?? Secret,
        PeerTimeout = peerTimeout ?? TimeSpan.FromSeconds(10),
        HeartbeatInterval = heartbeat ?? TimeSpan.FromMilliseconds(100),
        SendWindowBytes = window,
    };

    /// <summary>Opens a primary (connecting) and a backup (accepting) over the given ends.</summary>
    public static async Task<(LogChannel Primary, LogChannel Backup)> OpenAsync(
        IDuplexPipe primaryEnd, IDuplexPipe backupEnd, LogChannelOptions primary, LogChannelOptions backup)
    {
        var accepting = LogChannel.AcceptAsync(backupEnd, backup);
        var connecting = LogChannel.ConnectAsync(primaryEnd, primary);
        return (await connecting.WaitAsync(Patience), await accepting.WaitAsync(Patience));
    }

    public static async Task WriteFrameAsync(PipeWriter output, Frame frame)
    {
        FrameCodec.WriteFrame(frame, output);
        await output.FlushAsync();
    }

    /// <summary>Reads one frame and copies it out; null when the pipe ended first.</summary>
    public static async Task<(FrameType Type, ulong Value, byte[] Payload)?> ReadFrameAsync(PipeReader input)
    {
        (FrameType, ulong, byte[])? got = null;
        using var cts = new CancellationTokenSource(Patience);
        await FrameReader.ReadAsync(input, FrameCodec.DefaultMaxBodyLength, (in Frame f) =>
        {
            got = (f.Type, f.Value, f.Payload.ToArray());
            return false;
        }, null, cts.Token);
        return got;
    }

    /// <summary>Polls until the condition holds; false if it never did within the patience.</summary>
    public static async Task<bool> EventuallyAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (DateTime.UtcNow < deadline)
        {
            if (condition())
                return true;
            await Task.Delay(20);
        }
        return condition();
    }
}
