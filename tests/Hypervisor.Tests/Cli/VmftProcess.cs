using System.Diagnostics;

namespace VmFt.Hypervisor.Tests.Cli;

/// <summary>Runs the real <c>vmft</c> (the built vmft.dll beside the tests) as a separate process.</summary>
internal static class VmftProcess
{
    public static (int Exit, string Stdout, string Stderr) Run(string stdin, params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "vmft.dll");
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(dll);
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.StandardInput.Write(stdin);
        process.StandardInput.Close();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"vmft {string.Join(' ', args)} did not finish");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}
