using System.Text;
using Xunit.Abstractions;

namespace VmFt.Guest.Tests.Oracle;

/// <summary>Replays every committed host-x87 vector on the emulator (see tests/Oracle/README.md).</summary>
public sealed class X87OracleReplayTests(ITestOutputHelper output)
{
    private static string DataDirectory
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "VmFt.sln")))
                    return Path.Combine(dir.FullName, "tests", "Guest.Tests", "Data", "oracle-x87");
            throw new InvalidOperationException("VmFt.sln not found above the test assembly");
        }
    }

    private static IEnumerable<(string File, string[] Forms, List<X87Vector> Vectors)> Files() =>
        Directory.GetFiles(DataDirectory, "*.bin.gz").Order(StringComparer.Ordinal)
            .Select(f => { var (forms, vectors) = X87VectorFile.Read(f); return (Path.GetFileName(f), forms, vectors); });

    [Fact]
    public void EmulatorMatchesHostX87OnEveryVector()
    {
        var replay = new X87OracleReplay();
        var failures = new SortedDictionary<string, (int Count, string Example)>(StringComparer.Ordinal);
        int total = 0, failed = 0;
        foreach (var (file, forms, vectors) in Files())
        {
            int before = failed;
            foreach (var x in vectors)
            {
                total++;
                string? why = replay.Replay(x);
                if (why is null) continue;
                failed++;
                string form = forms[x.Base.Form];
                failures[form] = failures.TryGetValue(form, out var f)
                    ? (f.Count + 1, f.Example)
                    : (1, $"{Convert.ToHexString(x.Base.Code)} (state seed {x.StateSeed:X8}): {why}");
            }
            output.WriteLine($"{file}: {vectors.Count} vectors, {failed - before} differ");
        }
        output.WriteLine($"transcendental results: {replay.ExactResults} bit-exact, {replay.UlpResults} within 1 ulp");

        if (failed == 0)
        {
            Assert.True(total >= 100_000, $"only {total} x87 vectors found in {DataDirectory}");
            return;
        }
        var sb = new StringBuilder($"{failed} of {total} x87 vectors differ from the host, in {failures.Count} forms:\n");
        foreach (var (form, (count, example)) in failures.OrderByDescending(kv => kv.Value.Count))
            sb.Append($"  {form}: {count}  e.g. {example}\n");
        Assert.Fail(sb.ToString());
    }
}
