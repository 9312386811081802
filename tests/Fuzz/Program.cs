using SharpFuzz;
using VmFt.Fuzz;

// vmft's fuzz harness. Under afl-fuzz: `VmFt.Fuzz <target>` (persistent mode, one input per loop).
// Without it: `replay <target> <file|folder>...` runs stored inputs and names every one that ends in
// a non-contract exception or a hang; `seeds <folder> [target]` writes the seed corpus; `list`, `names`.
const int ReplayLimitSeconds = 10;

if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.WriteLine("usage: VmFt.Fuzz <target>                          (under afl-fuzz)");
    Console.WriteLine("       VmFt.Fuzz replay <target> <file|folder>...  (stored inputs; exit 1 on a crash or hang)");
    Console.WriteLine("       VmFt.Fuzz seeds <folder> [target]           (writes the seed corpus)");
    Console.WriteLine("       VmFt.Fuzz list | names");
    return args.Length == 0 ? 2 : 0;
}

switch (args[0])
{
    case "names":
        foreach (string name in FuzzTargets.Names) Console.WriteLine(name);
        return 0;

    case "list":
        // Builds every target: not for instrumented assemblies outside afl-fuzz.
        foreach (var t in FuzzTargets.All) Console.WriteLine($"{t.Name,-12} {t.Description}");
        return 0;

    case "seeds":
    {
        if (args.Length is < 2 or > 3) return Usage("seeds needs a folder and at most one target");
        var targets = args.Length == 3 ? [Target(args[2])] : FuzzTargets.All.ToList();
        foreach (var t in targets)
        {
            string dir = Path.Combine(args[1], t.Name);
            Directory.CreateDirectory(dir);
            int n = 0;
            foreach (var (name, data) in t.Seeds())
            {
                File.WriteAllBytes(Path.Combine(dir, name), data);
                n++;
            }
            Console.WriteLine($"{t.Name}: {n} seeds in {dir}");
        }
        return 0;
    }

    case "replay":
    {
        if (args.Length < 3) return Usage("replay needs a target and at least one file or folder");
        var target = Target(args[1]);
        int total = 0, bad = 0;
        foreach (string file in InputReplay.FilesUnder(args[2..]))
        {
            var outcome = InputReplay.Replay(target, file, TimeSpan.FromSeconds(ReplayLimitSeconds));
            total++;
            if (outcome.Ok) continue;
            bad++;
            Console.WriteLine(outcome);
            if (outcome.Failure is { } e && Environment.GetEnvironmentVariable("FUZZ_STACK") == "1") Console.WriteLine(e);
        }
        Console.WriteLine($"{target.Name}: {total} inputs, {bad} crashed or hung");
        return bad == 0 ? 0 : 1;
    }

    default:
    {
        if (args.Length != 1) return Usage($"unknown command '{args[0]}'");
        string name = args[0];
        if (!FuzzTargets.Exists(name)) Target(name);
        FuzzTarget? target = null;
        Fuzzer.Run(stream =>
        {
            target ??= FuzzTargets.Find(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            if (target.Check(copy.GetBuffer().AsSpan(0, (int)copy.Length)) is { } failure)
                throw new FuzzFailureException(target.Name, failure);
        });
        return 0;
    }
}

static FuzzTarget Target(string name)
{
    if (FuzzTargets.Find(name) is { } target) return target;
    Console.Error.WriteLine($"VmFt.Fuzz: unknown target '{name}' (targets: {string.Join(", ", FuzzTargets.Names)})");
    Environment.Exit(2);
    return null!;
}

static int Usage(string problem)
{
    Console.Error.WriteLine($"VmFt.Fuzz: {problem}; see --help");
    return 2;
}

/// <summary>Carries a target's non-contract exception out of the loop, so that afl-fuzz records the input as a crash.</summary>
internal sealed class FuzzFailureException(string target, Exception inner)
    : Exception($"{target}: {inner.GetType().Name}: {inner.Message}", inner);
