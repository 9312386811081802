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

    [Fact]
    public void ReplayReportsADifferenceWhenTheExpectationIsWrong()
    {
        var replay = new X87OracleReplay();
        var all = Files().ToList();
        var arith = all.First(f => f.File == "x87-arith.bin.gz");
        var v = arith.Vectors.First(x => x.Base.Vector == OracleVector.NoFault && !x.FromSignalFrame && replay.Replay(x) is null
            && (x.FinalImage[5] & 0x38) == (x.InitialImage[5] & 0x38));
        v.FinalImage[28] ^= 1;                      // ST(0)'s last significand bit
        Assert.Contains("st0", replay.Replay(v));
        v.FinalImage[28] ^= 1;
        v.FinalImage[1] ^= 0x0C;                    // the rounding control
        Assert.Contains("fcw", replay.Replay(v));
        v.FinalImage[1] ^= 0x0C;
        v.FinalImage[4] ^= 0x20;                    // PE: never undefined
        Assert.Contains("fsw", replay.Replay(v));
        v.FinalImage[4] ^= 0x20;
        v.FinalImage[16] ^= 0x01;                   // the selector of the last instruction
        Assert.Contains("fcs", replay.Replay(v));
        v.FinalImage[16] ^= 0x01;
        Assert.Null(replay.Replay(v));

        // A transcendental result may be one ulp away, not two.
        var trans = all.First(f => f.File == "x87-transcendental.bin.gz");
        var t = trans.Vectors.First(x => x.Base.Vector == OracleVector.NoFault && (x.UlpRegisters & 1) != 0 && replay.Replay(x) is null
            && (x.FinalImage[28] & 3) == 1 && (x.FinalImage[37] & 0x7F) is > 0 and < 0x7F);
        t.FinalImage[28] ^= 3;                      // ...01 -> ...10: one unit up
        Assert.Null(replay.Replay(t));
        t.FinalImage[28] ^= 3 ^ 1;                  // ...00: one unit down from 01
        Assert.Null(replay.Replay(t));
        t.FinalImage[28] ^= 1 ^ 7;                  // ...01 -> ...110: five units away
        Assert.Contains("st0", replay.Replay(t));
    }

    [Fact]
    public void VectorsCoverEveryX87Form()
    {
        var counts = new Dictionary<string, int>();
        int faulting = 0;
        foreach (var (_, forms, vectors) in Files())
            foreach (var x in vectors)
            {
                counts[forms[x.Base.Form]] = counts.GetValueOrDefault(forms[x.Base.Form]) + 1;
                if (x.Base.Vector == 16) faulting++;
            }
        Assert.True(counts.Count >= 160, $"only {counts.Count} x87 forms have vectors"); // all 160 the generator makes
        var thin = counts.Where(kv => kv.Value < 300).Select(kv => kv.Key).ToList();
        Assert.True(thin.Count == 0, "forms with fewer than 300 vectors: " + string.Join(' ', thin));
        foreach (var form in (string[])["Fsincos", "Fprem1", "Fbstp_m80bcd", "Frstor_m94byte", "Fxrstor_m512byte", "Fcomip_st0_sti", "Fcmovnbe_st0_sti", "Ffreep_sti", "Fstpnce_sti", "Fsetpm"])
            Assert.Contains(form, counts.Keys);
        Assert.True(faulting > 1000, $"only {faulting} vectors end in #MF");
    }
}
