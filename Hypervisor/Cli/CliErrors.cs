namespace VmFt.Hypervisor.Cli;

/// <summary>Turns input errors (the shell's own, and the library's <see cref="InputException"/>s) into one line on stderr and exit code 2, never a stack trace.</summary>
public static class CliErrors
{
    public static int Guard(string command, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is UsageException or InputException)
        {
            Console.Error.WriteLine($"vmft {command}: {e.Message}");
            return VmftCommand.BadInput;
        }
    }
}
