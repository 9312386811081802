using System.Diagnostics;

namespace VmFt.Hypervisor.Tests.Cli;

/// <summary>Runs the real <c>vmft</c> (the built vmft.dll beside the tests) as a separate process.</summary>
internal static class VmftProcess
{
    /// <summary>How to start that vmft with these arguments, its three standard streams redirected (also what an <c>FtProcesses</c> in a test starts its children with).</summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "vmft.dll"));
        foreach (var a in args) info.ArgumentList.Add(a);
        return info;
    }

    public static (int Exit, string Stdout, string Stderr) Run(string stdin, params string[] args)
    {
        using var process = Process.Start(StartInfo(args))!;
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
