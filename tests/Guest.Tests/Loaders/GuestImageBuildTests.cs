using System.Diagnostics;
using VmFt.Guest.Images;
using Xunit.Abstractions;

namespace VmFt.Guest.Tests.Loaders;

/// <summary>The committed guest images are exactly what their sources build to.</summary>
public class GuestImageBuildTests(ITestOutputHelper output)
{
    private static readonly string[] Guests = ["hello", "kvstore", "cpubench", "selftest", "floats", "disk", "netecho"];

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "VmFt.sln"))) return dir.FullName;
        throw new InvalidOperationException("VmFt.sln not found above " + AppContext.BaseDirectory);
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Any(d => d.Length > 0 && File.Exists(Path.Combine(d, tool)));

    [Fact]
    public async Task RebuildingTheGuestsReproducesThePrebuiltImagesByteForByte()
    {
        string images = Path.Combine(RepositoryRoot(), "Guest", "Images");
        foreach (var g in Guests)
        {
            string prebuilt = Path.Combine(images, "prebuilt", g + ".elf");
            Assert.True(File.Exists(prebuilt), $"{prebuilt} is missing");
            Assert.Equal(File.ReadAllBytes(prebuilt), BundledImages.Get(g));   // the embedded copy is the committed one
        }

        string[] missing = ["gcc", "ld", "make"];
        missing = missing.Where(t => !OnPath(t)).ToArray();
        if (missing.Length > 0)
        {
            output.WriteLine($"NOT REBUILT: {string.Join(", ", missing)} not on PATH; only checked that the prebuilt images exist and are embedded");
            return;
        }

        string temp = Path.Combine(Path.GetTempPath(), "vmft-guest-build-" + Guid.NewGuid().ToString("N"));
        try
        {
            await Make(images, "-s", "O=" + Path.Combine(temp, "obj"), "OUT=" + Path.Combine(temp, "out"), "all");
            foreach (var g in Guests)
            {
                var rebuilt = File.ReadAllBytes(Path.Combine(temp, "out", g + ".elf"));
                var committed = BundledImages.Get(g);
                int firstDifference = rebuilt.AsSpan().CommonPrefixLength(committed);
                Assert.True(rebuilt.AsSpan().SequenceEqual(committed),
                    $"{g}.elf: rebuilt {rebuilt.Length} bytes differ from the committed {committed.Length} bytes at offset 0x{firstDifference:X}; run make in Guest/Images and commit prebuilt/");
                output.WriteLine($"{g}.elf: rebuilt, {rebuilt.Length} bytes, identical");
            }
        }
        finally
        {
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// cpubench judges itself against a table of checksums. Those must be what the same workload
    /// computes when compiled natively for the host, a computation that involves no emulated CPU.
    /// </summary>
    [Fact]
    public async Task CpubenchReferenceChecksumsMatchANativeBuildOfTheWorkload()
    {
        string images = Path.Combine(RepositoryRoot(), "Guest", "Images");
        string source = File.ReadAllText(Path.Combine(images, "src", "cpubench", "main.c"));
        string counts = File.ReadAllText(Path.Combine(images, "src", "cpubench", "iterations.h"));
        var defaultCount = System.Text.RegularExpressions.Regex.Match(counts, @"#define CPUBENCH_DEFAULT_ITERATIONS (\d+)u");
        Assert.True(defaultCount.Success, "iterations.h defines no default count");
        source = source.Replace("CPUBENCH_DEFAULT_ITERATIONS", defaultCount.Groups[1].Value);
        // The native build links against the host C library, which a bare gcc install may lack.
        if (!OnPath("gcc") || !OnPath("make") || !File.Exists("/usr/include/stdio.h"))
        {
            output.WriteLine("NOT CHECKED: gcc, make or the host C headers (/usr/include/stdio.h) are missing");
            Assert.Contains("{ 1, 0x", source);
            return;
        }

        string temp = Path.Combine(Path.GetTempPath(), "vmft-cpubench-host-" + Guid.NewGuid().ToString("N"));
        try
        {
            string printed = await Make(images, "-s", "O=" + temp, "host-checksums");
            var lines = System.Text.RegularExpressions.Regex.Matches(printed, @"iterations=(\d+) checksum=(0x[0-9a-f]{8})");
            Assert.Equal(5, lines.Count);
            foreach (System.Text.RegularExpressions.Match m in lines)
            {
                string entry = $"{{ {m.Groups[1].Value}, {m.Groups[2].Value}u }}";
                Assert.True(source.Contains(entry, StringComparison.Ordinal), $"main.c lacks the native result {entry}");
                output.WriteLine($"native {m.Value}: in the table");
            }
        }
        finally
        {
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { }
        }
    }

    private async Task<string> Make(string directory, params string[] args)
    {
        var psi = new ProcessStartInfo("make")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in args) psi.ArgumentList.Add(arg);
        using var make = Process.Start(psi)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var stdout = make.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = make.StandardError.ReadToEndAsync(timeout.Token);
        await make.WaitForExitAsync(timeout.Token);
        string text = await stdout, errors = await stderr;
        output.WriteLine(text + errors);
        Assert.True(make.ExitCode == 0, $"make {string.Join(' ', args)} failed ({make.ExitCode}): {errors}");
        return text;
    }
}
