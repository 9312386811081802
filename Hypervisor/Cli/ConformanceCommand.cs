using System.CommandLine;
using VmFt.Hypervisor.Conformance;

namespace VmFt.Hypervisor.Cli;

/// <summary><c>vmft conformance singlestep DIR</c>: runs single-instruction vectors captured from real hardware.</summary>
public static class ConformanceCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("dir") { Description = "directory of *.jsonl.gz single-step vector files" };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "print the details of failing vectors (registers, bytes, RAM)" };
        var filter = new Option<string?>("--filter") { Description = "only the file of this opcode form (e.g. F6.6), or vectors whose name contains the text" };
        var limit = new Option<int>("--max-details") { Description = "failing vectors shown per file with --verbose", DefaultValueFactory = _ => 5 };

        var singlestep = new Command("singlestep", "Run 80286 real-mode single-step vectors on the emulated CPU")
        {
            dir, verbose, filter, limit,
        };
        singlestep.SetAction(parse => CliErrors.Guard("conformance", () =>
        {
            SingleStepSuite.Run(parse.GetValue(dir)!, Console.Out, parse.GetValue(filter),
                parse.GetValue(verbose) ? Console.Out : null, parse.GetValue(limit));
            return 0; // failures are a report, not an error
        }));

        return new Command("conformance", "Check the emulated CPU against recorded processor behaviour") { singlestep };
    }
}
