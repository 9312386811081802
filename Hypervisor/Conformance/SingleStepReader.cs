using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace VmFt.Hypervisor.Conformance;

/// <summary>
/// Streams the vectors of one gzip'd JSON-lines file, one line at a time, so a file of any size
/// needs memory for one vector only.
/// </summary>
public static class SingleStepReader
{
    private static readonly string[] RegisterKeys =
        ["ax", "bx", "cx", "dx", "cs", "ss", "ds", "es", "sp", "bp", "si", "di", "ip", "flags"];

    /// <summary>
    /// The longest line taken as one vector. Real vectors are a few KiB; without a bound, a small
    /// gzip file that inflates to one endless line would be read into memory whole.
    /// </summary>
    public const int MaxLineChars = 1 << 20;

    /// <summary>Reads every vector of <paramref name="path"/>; throws <see cref="ConformanceInputException"/> naming the file and line.</summary>
    public static IEnumerable<SingleStepTest> Read(string path)
    {
        FileStream file;
        try
        {
            file = File.OpenRead(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConformanceInputException($"{path}: cannot open: {e.Message}", e);
        }
        foreach (var test in Read(file, path)) yield return test;
    }

    /// <summary>Reads every vector of the gzip'd stream <paramref name="gzip"/> (disposed at the end), called <paramref name="path"/> in messages.</summary>
    public static IEnumerable<SingleStepTest> Read(Stream gzip, string path)
    {
        using var reader = new StreamReader(new GZipStream(gzip, CompressionMode.Decompress));
        var line = new StringBuilder();
        int lineNumber = 0;
        while (true)
        {
            bool more;
            try
            {
                more = ReadBoundedLine(reader, line);
            }
            catch (InvalidDataException e)
            {
                throw new ConformanceInputException($"{path}: line {lineNumber + 1}: not valid gzip data: {e.Message}", e);
            }
            catch (LineTooLongException)
            {
                throw new ConformanceInputException(
                    $"{path}: line {lineNumber + 1}: longer than {MaxLineChars:N0} characters, which no vector is");
            }
            if (!more) yield break;
            lineNumber++;
            if (line.Length == 0) continue;
            yield return Parse(path, lineNumber, line.ToString());
        }
    }

    private sealed class LineTooLongException : Exception;

    /// <summary>
    /// Reads up to the next line feed (dropped, with a carriage return before it) into
    /// <paramref name="line"/>; false at the end of the stream with nothing read.
    /// </summary>
    private static bool ReadBoundedLine(StreamReader reader, StringBuilder line)
    {
        line.Clear();
        bool any = false;
        while (true)
        {
            int c = reader.Read();
            if (c < 0) return any;
            any = true;
            if (c == '\n')
            {
                if (line.Length > 0 && line[^1] == '\r') line.Length--;
                return true;
            }
            if (line.Length == MaxLineChars) throw new LineTooLongException();
            line.Append((char)c);
        }
    }

    private static SingleStepTest Parse(string path, int lineNumber, string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            var initial = root.GetProperty("initial");
            var final = root.GetProperty("final");
            var initialRegs = ReadRegisters(initial.GetProperty("regs"), null);
            var finalRegs = ReadRegisters(final.GetProperty("regs"), initialRegs);
            int vector = root.TryGetProperty("exception", out var ex) ? ex.GetProperty("number").GetInt32() : -1;
            var bytesElement = root.GetProperty("bytes");
            // The comparison rules are chosen by the instruction's opcode: a vector without one is not a test.
            if (bytesElement.GetArrayLength() == 0) throw new FormatException("the instruction's \"bytes\" are empty");
            var bytes = new byte[bytesElement.GetArrayLength()];
            int i = 0;
            foreach (var b in bytesElement.EnumerateArray()) bytes[i++] = b.GetByte();
            return new SingleStepTest
            {
                Name = root.GetProperty("name").GetString() ?? "",
                Line = lineNumber,
                Bytes = bytes,
                InitialRegisters = initialRegs,
                FinalRegisters = finalRegs,
                InitialRam = ReadRam(initial.GetProperty("ram")),
                FinalRam = ReadRam(final.GetProperty("ram")),
                ExceptionVector = vector,
            };
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new ConformanceInputException($"{path}: line {lineNumber}: bad vector: {e.Message}", e);
        }
    }

    /// <summary>Every register must be present in the initial state; the final state lists only the changed ones.</summary>
    private static ushort[] ReadRegisters(JsonElement regs, ushort[]? defaults)
    {
        var values = defaults is null ? new ushort[SingleStepTest.RegisterCount] : (ushort[])defaults.Clone();
        for (int r = 0; r < RegisterKeys.Length; r++)
        {
            if (regs.TryGetProperty(RegisterKeys[r], out var v)) values[r] = v.GetUInt16();
            else if (defaults is null) throw new KeyNotFoundException($"initial register '{RegisterKeys[r]}' missing");
        }
        return values;
    }

    private static (uint, byte)[] ReadRam(JsonElement ram)
    {
        var result = new (uint, byte)[ram.GetArrayLength()];
        int i = 0;
        foreach (var pair in ram.EnumerateArray())
        {
            if (pair.GetArrayLength() != 2) throw new FormatException("a RAM entry is not [address, byte]");
            uint address = pair[0].GetUInt32();
            // The runner keeps exactly this much RAM clear between vectors; beyond it an address is not real mode's.
            if (address >= SingleStepTest.AddressLimit)
                throw new FormatException($"RAM address 0x{address:X} lies beyond what real mode reaches (below 0x{SingleStepTest.AddressLimit:X})");
            result[i++] = (address, pair[1].GetByte());
        }
        return result;
    }
}
