using NetArchTest.Rules;
using VmFt.Hypervisor.Cli;
using VmFt.Hypervisor.Tests.Conformance;
using Xunit;

namespace VmFt.Hypervisor.Tests.Architecture;

/// <summary>
/// The command line is a shell over a library: nothing outside <c>VmFt.Hypervisor.Cli</c> may use
/// it, so every role, tool and format can be driven without it (by tests, by another host). Checked
/// on the compiled assembly (signatures and method bodies) and on the sources (names in comments too).
/// </summary>
public class LayeringTests
{
    private const string CliNamespace = "VmFt.Hypervisor.Cli";
    private static readonly System.Reflection.Assembly Vmft = typeof(VmftCommand).Assembly;

    [Fact]
    public void No_type_outside_the_command_line_depends_on_it()
    {
        var result = Types.InAssembly(Vmft).That().DoNotResideInNamespace(CliNamespace)
            .ShouldNot().HaveDependencyOn(CliNamespace).GetResult();
        Assert.True(result.IsSuccessful, "types outside the CLI that use it: " + string.Join(", ", result.FailingTypeNames ?? []));
    }

    [Fact]
    public void Only_the_command_line_parses_arguments()
    {
        var result = Types.InAssembly(Vmft).That().DoNotResideInNamespace(CliNamespace)
            .ShouldNot().HaveDependencyOn("System.CommandLine").GetResult();
        Assert.True(result.IsSuccessful, "types outside the CLI that use System.CommandLine: " + string.Join(", ", result.FailingTypeNames ?? []));
    }

    [Fact]
    public void The_check_sees_uses_inside_method_bodies()
    {
        // SizeParser names UsageException only in `throw new` statements: if the rule above looked
        // at signatures alone, it would not see this one, and it would not see a library type that
        // throws the shell's exception either.
        var users = Types.InAssembly(Vmft).That().HaveDependencyOn(typeof(UsageException).FullName!).GetTypes().Select(t => t.FullName).ToList();
        Assert.Contains(typeof(SizeParser).FullName, users);
    }

    [Fact]
    public void No_source_file_outside_the_command_line_names_it()
    {
        string hypervisor = Path.Combine(RepositoryPaths.Root, "Hypervisor");
        string cli = Path.Combine(hypervisor, "Cli") + Path.DirectorySeparatorChar;
        var offenders = Directory.EnumerateFiles(hypervisor, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.StartsWith(cli, StringComparison.Ordinal))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Where(f => File.ReadAllText(f) is var text && (text.Contains("Hypervisor.Cli", StringComparison.Ordinal) || text.Contains("UsageException", StringComparison.Ordinal)))
            .Select(f => Path.GetRelativePath(RepositoryPaths.Root, f))
            .ToList();
        Assert.True(offenders.Count == 0, "files outside Hypervisor/Cli that name the CLI: " + string.Join(", ", offenders));
    }
}
