using System.Diagnostics;
using Iced.Intel;
using VmFt.Guest.Tests.Oracle;
using VmFt.Tests.Oracle;

// Generates differential vectors: random instruction sequences run on the host CPU (the oracle).
// Usage: OracleGen [--count N] [--seed S] [--out DIR] [--x87]
int count = 200_000, seed = 1;
string? outDir = null;
bool x87 = false;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--count": count = int.Parse(args[++i]); break;
        case "--seed": seed = int.Parse(args[++i]); break;
        case "--out": outDir = args[++i]; break;
        case "--x87": x87 = true; break;
        default: Console.Error.WriteLine($"OracleGen: unknown argument '{args[i]}'"); return 2;
    }
}

string root = Directory.GetCurrentDirectory();
while (!File.Exists(Path.Combine(root, "VmFt.sln")))
    root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("run from inside the repository");
outDir ??= Path.Combine(root, "tests", "Guest.Tests", "Data", x87 ? "oracle-x87" : "oracle");
Directory.CreateDirectory(outDir);

string runner = Path.Combine(Path.GetTempPath(), $"vmft-oracle-{Environment.ProcessId}");
var build = Process.Start("sh", [Path.Combine(root, "tests", "Oracle", "native", "build.sh"), runner, x87 ? "x87" : "integer"]);
build.WaitForExit();
if (build.ExitCode != 0) { Console.Error.WriteLine("OracleGen: building the native runner failed"); return 1; }
if (x87) return X87Generator.Run(runner, outDir, count, seed);

var forms = new List<(Code Code, string? Variant)>();
foreach (var code in FormCatalog.Forms())
    foreach (var variant in CaseBuilder.Variants(code))
        forms.Add((code, variant));
Console.WriteLine($"{forms.Count} forms");

var rng = new Random(seed);
var builder = new CaseBuilder(rng);
var names = new List<string>();
var nameIndex = new Dictionary<string, ushort>();
var kept = new Dictionary<string, List<OracleVector>>();
var perForm = new Dictionary<string, int>();
var dropped = new Dictionary<string, int>();
var categoryOf = new Dictionary<ushort, string>();
int made = 0, round = 0;
const int Batch = 20_000;
while (made < count)
{
    var batch = new List<OracleVector>(Batch);
    for (int k = 0; k < Batch && made + batch.Count < count; k++)
    {
        var (code, variant) = forms[(round++) % forms.Count];
        OracleVector? v = null;
        string name = "";
        for (int attempt = 0; attempt < 20 && v is null; attempt++) v = builder.Build(code, variant, out name);
        if (v is null) continue;
        if (!nameIndex.TryGetValue(name, out ushort idx))
        {
            idx = (ushort)names.Count;
            names.Add(name);
            nameIndex[name] = idx;
            categoryOf[idx] = FormCatalog.Category(code);
        }
        v.Form = idx;
        batch.Add(v);
    }
    NativeOracle.Run(runner, batch);
    foreach (var v in batch)
    {
        string name = names[v.Form];
        // Only #DE is an expected fault; anything else (a page fault) means the case left its pages.
        if (v.Vector is not (OracleVector.NoFault or 0))
        {
            dropped[name] = dropped.GetValueOrDefault(name) + 1;
            continue;
        }
        v.Eflags &= ~0x1_0000u;      // RF: set by the kernel's fault return, not by the instruction
        v.FinalEflags &= ~0x1_0000u;
        string cat = categoryOf[v.Form];
        if (!kept.TryGetValue(cat, out var list)) kept[cat] = list = [];
        list.Add(v);
        perForm[name] = perForm.GetValueOrDefault(name) + 1;
        made++;
    }
    Console.WriteLine($"{made} vectors");
}
File.Delete(runner);

foreach (var old in Directory.GetFiles(outDir, "*.bin.gz")) File.Delete(old);
long bytes = 0;
foreach (var (cat, list) in kept.OrderBy(kv => kv.Key, StringComparer.Ordinal))
{
    string path = Path.Combine(outDir, $"{cat}.bin.gz");
    OracleVectorFile.Write(path, names, list);
    bytes += new FileInfo(path).Length;
    Console.WriteLine($"{path}: {list.Count} vectors, {new FileInfo(path).Length / 1024} KiB");
}

Console.WriteLine("coverage (vectors per form):");
foreach (var name in names.Order(StringComparer.Ordinal))
    Console.WriteLine($"  {name,-40} {perForm.GetValueOrDefault(name),6}{(dropped.TryGetValue(name, out int d) ? $"  ({d} dropped: left the pages)" : "")}");
var missing = forms.Select(f => f.Variant is null ? f.Code.ToString() : $"{f.Code}+{f.Variant}").Where(n => perForm.GetValueOrDefault(n) == 0).ToList();
Console.WriteLine($"{names.Count} forms covered, {missing.Count} without vectors{(missing.Count > 0 ? ": " + string.Join(' ', missing) : "")}");
Console.WriteLine($"{made} vectors, {bytes / 1024} KiB");
return 0;
