using Iced.Intel;
using VmFt.Guest.Tests.Oracle;

namespace VmFt.Tests.Oracle;

/// <summary>Generates the x87 vectors (OracleGen --x87): every P6 x87 form in turn, run on the host's x87.</summary>
public static class X87Generator
{
    private static X87Vector Copy(X87Vector x) => new()
    {
        Base = new OracleVector
        {
            Registers = x.Base.Registers, Eflags = x.Base.Eflags, DataSeed = x.Base.DataSeed, Patches = x.Base.Patches, Code = x.Base.Code,
        },
        InitialImage = x.InitialImage,
    };

    private static bool SameOutcome(X87Vector a, X87Vector b) =>
        a.FinalImage.AsSpan().SequenceEqual(b.FinalImage) && a.FromSignalFrame == b.FromSignalFrame
        && a.Base.Vector == b.Base.Vector && a.Base.FinalEip == b.Base.FinalEip && a.Base.FinalEflags == b.Base.FinalEflags
        && a.Base.FinalRegisters.AsSpan().SequenceEqual(b.Base.FinalRegisters) && a.Base.Changes.AsSpan().SequenceEqual(b.Base.Changes);

    public static int Run(string runner, string outDir, int count, int seed)
    {
        var forms = X87CaseBuilder.Forms();
        Console.WriteLine($"{forms.Count} x87 forms");
        var rng = new Random(seed);
        var builder = new X87CaseBuilder(rng);
        var names = new List<string>();
        var nameIndex = new Dictionary<string, ushort>();
        var kept = new Dictionary<string, List<X87Vector>>();
        var perForm = new Dictionary<string, int>();
        var faults = new Dictionary<int, int>();
        int made = 0, round = 0, dropped = 0, unstable = 0;
        const int Batch = 20_000;
        while (made < count)
        {
            var batch = new List<X87Vector>(Batch);
            var codes = new List<Code>(Batch);
            var sequences = new List<List<(Code, uint)>>(Batch);
            for (int k = 0; k < Batch && made + batch.Count < count; k++)
            {
                var code = forms[(round++) % forms.Count];
                X87Vector? v = null;
                string name = "";
                for (int attempt = 0; attempt < 20 && v is null; attempt++) v = builder.Build(code, out name);
                if (v is null) continue;
                if (!nameIndex.TryGetValue(name, out ushort idx))
                {
                    idx = (ushort)names.Count;
                    names.Add(name);
                    nameIndex[name] = idx;
                }
                v.Base.Form = idx;
                batch.Add(v);
                codes.Add(code);
                sequences.Add([.. builder.LastSequence]);
            }
            // Each batch runs twice and a vector is kept only when both runs agree: a context switch
            // in the middle of a case can lose the x87 pointers (the kernel's XSAVES/XRSTORS on this
            // host does not keep them while no exception is pending).
            var again = batch.Select(Copy).ToList();
            NativeOracle.RunX87(runner, batch);
            NativeOracle.RunX87(runner, again);
            for (int k = 0; k < batch.Count; k++)
            {
                var x = batch[k];
                var v = x.Base;
                if (!SameOutcome(x, again[k])) { unstable++; continue; }
                // A page fault means the case left its pages; every other vector is kept (#MF, #GP of a misaligned FXSAVE, ...).
                if (v.Vector == 14) { dropped++; continue; }
                if (v.Vector != OracleVector.NoFault) faults[v.Vector] = faults.GetValueOrDefault(v.Vector) + 1;
                (x.UndefinedStatus, x.UlpRegisters) = X87CaseBuilder.Allowances(sequences[k], v);
                v.Eflags &= ~0x1_0000u;
                v.FinalEflags &= ~0x1_0000u;
                string cat = X87CaseBuilder.Category(codes[k]);
                if (!kept.TryGetValue(cat, out var list)) kept[cat] = list = [];
                list.Add(x);
                perForm[names[v.Form]] = perForm.GetValueOrDefault(names[v.Form]) + 1;
                made++;
            }
            Console.WriteLine($"{made} vectors");
        }
        File.Delete(runner);
        foreach (var old in Directory.GetFiles(outDir, "x87-*.bin.gz")) File.Delete(old);
        long bytes = 0;
        foreach (var (cat, list) in kept.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            string path = Path.Combine(outDir, $"{cat}.bin.gz");
            X87VectorFile.Write(path, names, list);
            bytes += new FileInfo(path).Length;
            Console.WriteLine($"{path}: {list.Count} vectors, {new FileInfo(path).Length / 1024} KiB");
        }
        Console.WriteLine("coverage (vectors per form):");
        foreach (var name in names.Order(StringComparer.Ordinal))
            Console.WriteLine($"  {name,-28} {perForm.GetValueOrDefault(name),6}");
        Console.WriteLine($"faults kept: {string.Join(", ", faults.OrderBy(f => f.Key).Select(f => $"#{f.Key}: {f.Value}"))}; dropped (page faults): {dropped}; dropped (the two runs differed): {unstable}");
        Console.WriteLine($"{made} vectors, {bytes / 1024} KiB");
        return 0;
    }
}
