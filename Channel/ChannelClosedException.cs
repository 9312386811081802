namespace VmFt.Channel;

/// <summary>An operation on a channel that has already ended.</summary>
public sealed class ChannelClosedException : Exception
{
    public ChannelClosedException(ChannelClosure closure)
        : base($"the logging channel is closed: {closure}", closure.Exception)
    {
        Closure = closure;
    }

    public ChannelClosure Closure { get; }
}
