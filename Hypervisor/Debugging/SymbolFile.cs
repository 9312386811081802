using System.Text;

namespace VmFt.Hypervisor.Debugging;

/// <summary>A file given to <c>--symbols</c> that is neither a usable ELF file nor a System.map: the message says which line or byte and why.</summary>
public sealed class SymbolFileException(string message) : InputException(message);

/// <summary>
/// <c>--symbols FILE</c>: an ELF image (its symbol table) or a Linux System.map, told apart by
/// their content (the ELF magic; else a first line that reads <c>ADDRESS TYPE NAME</c>), not by
/// the file's name.
/// </summary>
public static class SymbolFile
{
    /// <summary>
    /// Reads the symbols. A file that is neither, or a System.map with a bad line, throws
    /// <see cref="SymbolFileException"/>; an ELF file without usable symbols (stripped, damaged)
    /// gives <see cref="ElfSymbols.Empty"/> and the reason in <paramref name="warning"/>.
    /// </summary>
    public static ElfSymbols Load(string path, out string? warning)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new SymbolFileException($"{path}: no such file");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SymbolFileException($"{path}: cannot read: {e.Message}");
        }
        return Parse(bytes, path, out warning);
    }

    /// <summary>Whether the file starts with the ELF magic (false when it cannot be read).</summary>
    public static bool IsElf(string path)
    {
        try
        {
            using var file = File.OpenRead(path);
            Span<byte> magic = stackalloc byte[4];
            return file.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic is [0x7F, (byte)'E', (byte)'L', (byte)'F'];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    public static ElfSymbols Parse(byte[] bytes, string path, out string? warning)
    {
        warning = null;
        if (bytes is [0x7F, (byte)'E', (byte)'L', (byte)'F', ..])
            return ElfSymbols.Parse(bytes, out warning);
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new SymbolFileException($"{path}: neither an ELF file (no ELF magic at byte offset 0) nor a System.map (not text)");
        }
        string first = "";
        foreach (var line in text.AsSpan().EnumerateLines())
        {
            if (line.Trim().IsEmpty) continue;
            first = line.ToString();
            break;
        }
        if (!ElfSymbols.IsSystemMapLine(first) && !first.Contains("System.map", StringComparison.Ordinal))
            throw new SymbolFileException(first.Length == 0
                ? $"{path}: neither an ELF file nor a System.map (it is empty)"
                : $"{path}: neither an ELF file (no ELF magic at byte offset 0) nor a System.map (its first line is not ADDRESS TYPE NAME)");
        try
        {
            return ElfSymbols.ParseSystemMap(text);
        }
        catch (FormatException e)
        {
            throw new SymbolFileException($"{path}: {e.Message}");
        }
    }
}
