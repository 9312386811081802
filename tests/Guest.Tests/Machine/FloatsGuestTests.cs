using System.Diagnostics;
using VmFt.Guest.Machine;
using Xunit.Abstractions;

namespace VmFt.Guest.Tests.Machine;

/// <summary>
/// The bundled <c>floats</c> guest (C compiled with -mfpmath=387) prints the same bytes on the
/// emulated x87 as the same workload compiled with the same flags does natively on the host's x87.
/// </summary>
public class FloatsGuestTests(ITestOutputHelper output)
{
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
    public async Task FloatsPrintsWhatTheHostX87Prints()
    {
        var (reason, status, serial, _) = BundledGuestTests.RunGuest("floats");
        Assert.Equal(MachineExitReason.DebugExit, reason);
        Assert.Equal(1, status);
        Assert.StartsWith("floats start\n", serial);
        Assert.EndsWith("floats done\n", serial);
        // Values whose digits are known independently of any x87.
        Assert.Contains("sqrt2 1.414213562373095049e+00\n", serial);
        Assert.Contains("pi 3.141592653589793238e+00\n", serial);
        Assert.Contains("third_double 3.3333333333333331e-01\n", serial);
        // sin(FLDPI) is -2^-64 on an x87 (the 66-bit pi of the argument reduction), not -5.0166e-20.
        Assert.Contains("sin_pi -5.42101086243e-20\n", serial);

        if (!OnPath("gcc") || !OnPath("ld") || !OnPath("make"))
        {
            output.WriteLine("NOT COMPARED with the host: gcc, ld or make is missing");
            return;
        }
        string images = Path.Combine(RepositoryRoot(), "Guest", "Images");
        string temp = Path.Combine(Path.GetTempPath(), "vmft-floats-host-" + Guid.NewGuid().ToString("N"));
        try
        {
            await Run("make", images, "-s", "O=" + temp, "host-floats");
            string native = await Run(Path.Combine(temp, "floats-host"), images);
            int lines = native.Count(ch => ch == '\n');
            output.WriteLine($"{lines} lines from the host's x87");
            if (native != serial)
            {
                var g = serial.Split('\n');
                var n = native.Split('\n');
                int i = 0;
                while (i < g.Length && i < n.Length && g[i] == n[i]) i++;
                Assert.Fail($"line {i + 1} differs: guest '{(i < g.Length ? g[i] : "<end>")}', host '{(i < n.Length ? n[i] : "<end>")}'");
            }
        }
        finally
        {
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { }
        }
    }

    private static async Task<string> Run(string program, string directory, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args) psi.ArgumentList.Add(arg);
        using var p = Process.Start(psi)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var stdout = p.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = p.StandardError.ReadToEndAsync(timeout.Token);
        await p.WaitForExitAsync(timeout.Token);
        string text = await stdout, errors = await stderr;
        Assert.True(p.ExitCode == 0, $"{program} {string.Join(' ', args)} failed ({p.ExitCode}): {errors}");
        return text;
    }
}
