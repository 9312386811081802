namespace VmFt.Hypervisor.Determinism;

/// <summary>A replay stopped matching its log: the message says where (position, sequence) and how.</summary>
public sealed class DivergenceException(string message, ulong position, ulong sequence) : Exception(message)
{
    public ulong Position { get; } = position;
    public ulong Sequence { get; } = sequence;
}
