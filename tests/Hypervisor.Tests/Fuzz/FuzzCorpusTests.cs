using VmFt.Fuzz;
using Xunit;

namespace VmFt.Hypervisor.Tests.Fuzz;

/// <summary>
/// Every committed fuzz input (the seed corpus and the crashes and hangs found so far) goes through
/// its target again: each must end within the parser's contract, and quickly.
/// </summary>
public sealed class FuzzCorpusTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(5);

    public static TheoryData<string> Targets => new(FuzzTargets.Names);

    private static string FuzzFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "Fuzz");
            if (File.Exists(Path.Combine(dir.FullName, "VmFt.sln")) && Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException($"no tests/Fuzz above {AppContext.BaseDirectory}");
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void EveryStoredInputEndsWithinTheContract(string name)
    {
        var target = FuzzTargets.Find(name)!;
        string corpus = Path.Combine(FuzzFolder(), "corpus", name);
        string regressions = Path.Combine(FuzzFolder(), "regressions", name);
        var files = InputReplay.FilesUnder([corpus, regressions]).ToList();
        Assert.Contains(files, f => f.StartsWith(corpus, StringComparison.Ordinal));

        var bad = files.Select(f => InputReplay.Replay(target, f, Limit)).Where(o => !o.Ok).ToList();
        Assert.True(bad.Count == 0, $"{bad.Count} of {files.Count} inputs broke the contract of {name}:\n" + string.Join("\n", bad));
    }

    /// <summary>The committed seeds are what the project's writers make today: a format change must refresh them (`VmFt.Fuzz seeds tests/Fuzz/corpus`).</summary>
    [Theory]
    [MemberData(nameof(Targets))]
    public void CommittedSeedsMatchTheWriters(string name)
    {
        foreach (var (file, data) in FuzzTargets.Find(name)!.Seeds())
        {
            // A gzip seed is whatever the runtime's zlib makes of its text: it may differ by version.
            if (file.EndsWith(".gz", StringComparison.Ordinal)) continue;
            string path = Path.Combine(FuzzFolder(), "corpus", name, file);
            Assert.True(File.Exists(path), $"seed {path} is missing");
            Assert.True(data.AsSpan().SequenceEqual(File.ReadAllBytes(path)), $"seed {path} differs from what the writers make now");
        }
    }
}
