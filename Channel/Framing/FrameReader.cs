using System.IO.Pipelines;

namespace VmFt.Channel.Framing;

/// <summary>The one async read loop: pulls bytes from a pipe and hands every whole frame to a handler.</summary>
public static class FrameReader
{
    /// <summary>
    /// Reads frames until the handler returns false (true is returned) or the peer closes the pipe
    /// cleanly between frames (false is returned). A close in the middle of a frame is a protocol error.
    /// </summary>
    /// <param name="onBytes">Called whenever new bytes arrive, whole frame or not (liveness).</param>
    public static async ValueTask<bool> ReadAsync(
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
                    return true;
                if (result.IsCompleted || result.IsCanceled)
                {
                    if (!buffer.IsEmpty)
                        throw new ChannelProtocolException($"connection closed inside a frame ({buffer.Length} bytes pending)");
                    return false;
                }
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
