using System.CommandLine;

namespace VmFt.Hypervisor.Cli;

/// <summary>The <c>vmft</c> command line: one subcommand per role or tool.</summary>
public static class VmftCommand
{
    /// <summary>Exit code for input the user got wrong (a bad flag, a missing or unreadable file).</summary>
    public const int BadInput = 2;

    public static int Run(string[] args)
    {
        var root = new RootCommand("VmFt: fault-tolerant x86 virtual machines by deterministic replay");
        root.Options.Add(CliLogging.LevelOption);
        root.Subcommands.Add(RunCommand.Create());
        root.Subcommands.Add(RecordCommand.Create());
        root.Subcommands.Add(ReplayCommand.Create());
        root.Subcommands.Add(DebugCommand.Create());
        root.Subcommands.Add(DiffCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(SimulateCommand.Create());
        root.Subcommands.Add(ConformanceCommand.Create());
        root.Subcommands.Add(NodeCommands.CreatePrimary());
        root.Subcommands.Add(NodeCommands.CreateBackup());
        root.Subcommands.Add(RelayCommand.Create());
        root.Subcommands.Add(FtCommand.Create());
        root.Subcommands.Add(ConsoleCommand.Create());
        root.Subcommands.Add(DemoCommand.Create());
        var parse = root.Parse(args);
        // A flag or argument the command does not know is bad input like any other: one line and
        // exit 2, not the parser's help text (--help itself is no error and still prints it).
        if (parse.Errors.Count > 0)
        {
            Console.Error.WriteLine($"{CommandPath(parse.CommandResult)}: {parse.Errors[0].Message}");
            return BadInput;
        }
        return parse.Invoke();
    }

    /// <summary>"vmft bench disk": the names from the root to the command that was parsed.</summary>
    private static string CommandPath(System.CommandLine.Parsing.CommandResult command)
    {
        var names = new List<string>();
        for (var r = command; r is not null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            names.Insert(0, r.Command is RootCommand ? "vmft" : r.Command.Name);
        return string.Join(' ', names);
    }
}
