using System.IO.Pipelines;

namespace VmFt.Channel.Framing;

/// <summary>The one async read loop: pulls bytes from a pipe and hands every whole frame to a handler.</summary>
public static class FrameReader
{
    /// <summary>
    /// Reads frames until the handler returns false or the peer closes the pipe. A close in the
    /// middle of a frame is reported with the bytes of the frame that did arrive, not as a protocol
    /// error: nothing the peer sent broke the format, it just stopped (it died while writing, or the
    /// connection broke). Malformed bytes (a bad type, an oversized length) throw
    /// <see cref="ChannelProtocolException"/> from the codec.
    /// </summary>
    /// <param name="onBytes">Called whenever new bytes arrive, whole frame or not (liveness).</param>
    public static async ValueTask<FrameReadResult> ReadAsync(
        PipeReader input, int maxBodyLength, FrameHandler handler, Action? onBytes, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            bool stop = false;
            try
            {
                if (!buffer.IsEmpty)
                    onBytes?.Invoke();
                while (FrameCodec.TryParseFrame(ref buffer, maxBodyLength, out var frame))
                {
                    if (!handler(in frame))
                    {
                        stop = true;
                        break;
                    }
                }
                if (stop)
                    return new FrameReadResult(Stopped: true, 0);
                if (result.IsCompleted || result.IsCanceled)
                    return new FrameReadResult(Stopped: false, buffer.Length);
            }
            finally
            {
                // Consumed up to the last whole frame; examined everything, so ReadAsync waits for new bytes.
                if (stop)
                    input.AdvanceTo(buffer.Start);
                else
                    input.AdvanceTo(buffer.Start, buffer.End);
            }
        }
    }
}
