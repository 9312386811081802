using System.IO.Pipelines;

namespace VmFt.Channel.Transport;

/// <summary>A reader and a writer that together form one end of a connection.</summary>
public sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
{
    public PipeReader Input { get; } = input;

    public PipeWriter Output { get; } = output;
}
