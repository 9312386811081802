using System.Diagnostics;
using VmFt.Guest.Images;
using Xunit.Abstractions;

namespace VmFt.Guest.Tests.Loaders;

/// <summary>The committed guest images are exactly what their sources build to.</summary>
public class GuestImageBuildTests(ITestOutputHelper output)
{
    private static readonly string[] Guests = ["hello", "kvstore", "cpubench", "selftest"];

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
            var psi = new ProcessStartInfo("make")
            {
                WorkingDirectory = images,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var arg in new[] { "-s", "O=" + Path.Combine(temp, "obj"), "OUT=" + Path.Combine(temp, "out"), "all" })
                psi.ArgumentList.Add(arg);
            using var make = Process.Start(psi)!;
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            var stdout = make.StandardOutput.ReadToEndAsync(timeout.Token);
            var stderr = make.StandardError.ReadToEndAsync(timeout.Token);
            await make.WaitForExitAsync(timeout.Token);
            string errors = await stderr;
            output.WriteLine(await stdout + errors);
            Assert.True(make.ExitCode == 0, $"make failed ({make.ExitCode}): {errors}");

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
}
