using System.Runtime.InteropServices;

namespace VmFt.Guest.Processor;

// Compiled block code shared by every CPU in the process (FT runs two machines in one process, the
// simulator hundreds): a block's code is a function of its decoded instructions alone, so the same
// bytes compile once. Bounded like each CPU's own cache: full means emptied.
public sealed unsafe partial class Cpu
{
    internal readonly record struct SharedBlock(System.Reflection.Emit.DynamicMethod Method, int Inlined);

    /// <summary>A block's decoded instructions, compared byte for byte.</summary>
    internal readonly struct SharedBlockKey : IEquatable<SharedBlockKey>
    {
        private readonly byte[] _bytes;
        private readonly int _hash;

        public SharedBlockKey(DecodedInstruction[] instructions)
        {
            _bytes = MemoryMarshal.AsBytes(instructions.AsSpan()).ToArray();
            var h = new HashCode();
            h.AddBytes(_bytes);
            _hash = h.ToHashCode();
        }

        public bool Equals(SharedBlockKey other) => _hash == other._hash && _bytes.AsSpan().SequenceEqual(other._bytes);
        public override bool Equals(object? obj) => obj is SharedBlockKey k && Equals(k);
        public override int GetHashCode() => _hash;
    }

    private static class SharedCode
    {
        private const int Limit = 64 * 1024;
        private static readonly Dictionary<SharedBlockKey, SharedBlock> Blocks = [];
        private static readonly Lock Gate = new();

        public static bool TryGet(SharedBlockKey key, out SharedBlock block)
        {
            lock (Gate) return Blocks.TryGetValue(key, out block);
        }

        public static void Add(SharedBlockKey key, SharedBlock block)
        {
            lock (Gate)
            {
                if (Blocks.Count >= Limit) Blocks.Clear();
                Blocks[key] = block;
            }
        }
    }
}
