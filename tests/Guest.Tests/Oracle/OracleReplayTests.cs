using System.Text;

namespace VmFt.Guest.Tests.Oracle;

/// <summary>Replays every committed host-CPU vector on the emulator (see tests/Oracle/README.md).</summary>
public sealed class OracleReplayTests
{
    private static string DataDirectory
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "VmFt.sln")))
                    return Path.Combine(dir.FullName, "tests", "Guest.Tests", "Data", "oracle");
            throw new InvalidOperationException("VmFt.sln not found above the test assembly");
        }
    }

    private static IEnumerable<(string File, string[] Forms, List<OracleVector> Vectors)> Files() =>
        Directory.GetFiles(DataDirectory, "*.bin.gz").Order(StringComparer.Ordinal)
            .Select(f => { var (forms, vectors) = OracleVectorFile.Read(f); return (Path.GetFileName(f), forms, vectors); });

    [Fact]
    public void EmulatorMatchesHostOnEveryVector()
    {
        var replay = new OracleReplay();
        var failures = new SortedDictionary<string, (int Count, string Example)>(StringComparer.Ordinal);
        int total = 0, failed = 0;
        foreach (var (_, forms, vectors) in Files())
            foreach (var v in vectors)
            {
                total++;
                string? why = replay.Replay(v);
                if (why is null) continue;
                failed++;
                string form = forms[v.Form];
                failures[form] = failures.TryGetValue(form, out var f)
                    ? (f.Count + 1, f.Example)
                    : (1, $"{Convert.ToHexString(v.Code)}: {why}");
            }

        Assert.True(total >= 200_000, $"only {total} vectors found in {DataDirectory}");
        if (failed == 0) return;
        var sb = new StringBuilder($"{failed} of {total} vectors differ from the host, in {failures.Count} forms:\n");
        foreach (var (form, (count, example)) in failures.OrderByDescending(kv => kv.Value.Count))
            sb.Append($"  {form}: {count}  e.g. {example}\n");
        Assert.Fail(sb.ToString());
    }

    [Fact]
    public void ReplayReportsADifferenceWhenTheExpectationIsWrong()
    {
        // The comparison must be able to fail: take vectors the emulator matches and corrupt each
        // kind of expectation in turn.
        var replay = new OracleReplay();
        var (_, _, vectors) = Files().First(f => f.File == "alu.bin.gz");
        var v = vectors.First(x => x.Vector == OracleVector.NoFault && replay.Replay(x) is null && x.Changes.Length > 0);
        v.FinalRegisters[3] ^= 0x10;
        Assert.Contains("ebx", replay.Replay(v));
        v.FinalRegisters[3] ^= 0x10;
        v.FinalEflags ^= 0x400; // DF is never undefined
        Assert.Contains("eflags", replay.Replay(v));
        v.FinalEflags ^= 0x400;
        v.Changes[0] = (v.Changes[0].Offset, (byte)~v.Changes[0].Value);
        Assert.Contains("data+", replay.Replay(v));
    }

    [Fact]
    public void VectorsCoverEveryGeneratedForm()
    {
        var counts = new Dictionary<string, int>();
        foreach (var (_, forms, vectors) in Files())
            foreach (var v in vectors)
                counts[forms[v.Form]] = counts.GetValueOrDefault(forms[v.Form]) + 1;
        Assert.True(counts.Count >= 400, $"only {counts.Count} forms have vectors");
        var thin = counts.Where(kv => kv.Value < 50).Select(kv => kv.Key).ToList();
        Assert.True(thin.Count == 0, "forms with fewer than 50 vectors: " + string.Join(' ', thin));
        Assert.Contains("Cmpxchg8b_m64", counts.Keys);
        Assert.Contains("Div_rm32", counts.Keys);
        Assert.Contains("Movsd_m32_m32+REP", counts.Keys);
    }
}
