using System.Buffers;
using System.IO.Pipelines;

namespace VmFt.Channel.Tests.Handshake;

/// <summary>A pipe writer that also copies every flushed byte to a second writer (a wire tap).</summary>
internal sealed class TeeWriter(PipeWriter inner, PipeWriter copy) : PipeWriter
{
    private Memory<byte> _last;

    public override void Advance(int bytes)
    {
        copy.Write(_last.Span[..bytes]);
        inner.Advance(bytes);
    }

    public override Memory<byte> GetMemory(int sizeHint = 0) => _last = inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => (_last = inner.GetMemory(sizeHint)).Span;

    public override void CancelPendingFlush() => inner.CancelPendingFlush();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    public override async ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        await copy.FlushAsync(cancellationToken);
        return await inner.FlushAsync(cancellationToken);
    }
}
