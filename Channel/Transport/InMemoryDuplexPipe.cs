using System.IO.Pipelines;

namespace VmFt.Channel.Transport;

/// <summary>A connection without sockets: two pipes crossed, so what one end writes the other reads.</summary>
public static class InMemoryDuplexPipe
{
    /// <summary>Back-pressure like a socket buffer: writers pause at 1 MiB in flight, resume at 512 KiB.</summary>
    public static PipeOptions DefaultOptions { get; } =
        new(pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 1 << 19, useSynchronizationContext: false);

    public static (IDuplexPipe First, IDuplexPipe Second) CreatePair(PipeOptions? options = null)
    {
        options ??= DefaultOptions;
        var forward = new Pipe(options);
        var backward = new Pipe(options);
        return (new DuplexPipe(backward.Reader, forward.Writer), new DuplexPipe(forward.Reader, backward.Writer));
    }
}
