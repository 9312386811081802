using System.Reflection;

namespace VmFt.Guest.Images;

/// <summary>
/// The guest kernels that ship inside VmFt (Multiboot v1 ELF, loaded at 1 MiB): <c>hello</c>,
/// <c>kvstore</c>, <c>cpubench</c>, <c>selftest</c>, <c>floats</c> (x87 code compiled from C) and <c>disk</c> (a virtio-blk driver).
/// Sources and the Makefile that produces the embedded bytes live next to this file.
/// </summary>
public static class BundledImages
{
    private const string Prefix = "VmFt.Guest.Images.";
    private const string Suffix = ".elf";

    private static readonly Assembly Self = typeof(BundledImages).Assembly;

    /// <summary>The names of all bundled images, sorted.</summary>
    public static IReadOnlyList<string> Names { get; } = Self.GetManifestResourceNames()
        .Where(r => r.StartsWith(Prefix, StringComparison.Ordinal) && r.EndsWith(Suffix, StringComparison.Ordinal))
        .Select(r => r[Prefix.Length..^Suffix.Length])
        .Order(StringComparer.Ordinal)
        .ToArray();

    public static bool Contains(string name) => Names.Contains(name, StringComparer.Ordinal);

    /// <summary>A fresh copy of the named image's bytes.</summary>
    /// <exception cref="ArgumentException">No image has that name (the message lists the ones there are).</exception>
    public static byte[] Get(string name)
    {
        using var stream = Contains(name) ? Self.GetManifestResourceStream(Prefix + name + Suffix) : null;
        if (stream is null)
            throw new ArgumentException($"no bundled image '{name}' (bundled: {string.Join(", ", Names)})", nameof(name));
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }
}
