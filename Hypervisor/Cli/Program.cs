namespace VmFt.Hypervisor.Cli;

/// <summary>The <c>vmft</c> executable's entry point.</summary>
public static class Program
{
    public static int Main(string[] args) => VmftCommand.Run(args);
}
