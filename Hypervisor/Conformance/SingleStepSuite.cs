namespace VmFt.Hypervisor.Conformance;

/// <summary>
/// Runs every <c>*.jsonl.gz</c> vector file of a directory and reports, per file, passed / failed /
/// masked, then one line <c>N passed, M failed</c>.
/// </summary>
public static class SingleStepSuite
{
    /// <param name="filter">When set, only files whose form (the name without <c>.jsonl.gz</c>) or vectors whose name contains it.</param>
    /// <param name="details">When set, receives the details of every failing (and, if verbose, masked) vector.</param>
    public static ConformanceTotals Run(string directory, TextWriter output, string? filter = null, TextWriter? details = null, int maxDetailsPerFile = 5)
    {
        if (!Directory.Exists(directory))
            throw new ConformanceInputException($"{directory}: no such directory");
        var files = Directory.GetFiles(directory, "*.jsonl.gz");
        if (files.Length == 0)
            throw new ConformanceInputException($"{directory}: no *.jsonl.gz vector files");
        Array.Sort(files, StringComparer.Ordinal);

        // A filter naming a file's form selects that file alone; any other text matches vector names.
        if (filter is not null)
        {
            var exact = files.Where(f => Path.GetFileName(f)[..^".jsonl.gz".Length].Equals(filter, StringComparison.OrdinalIgnoreCase)).ToArray();
            if (exact.Length > 0) files = exact;
        }
        var runner = new SingleStepRunner();
        var total = new ConformanceTotals();
        foreach (var file in files)
        {
            string form = Path.GetFileName(file)[..^".jsonl.gz".Length];
            bool formMatches = filter is null || form.Equals(filter, StringComparison.OrdinalIgnoreCase);
            var counts = new ConformanceTotals();
            int shown = 0;
            foreach (var test in SingleStepReader.Read(file))
            {
                if (!formMatches && !test.Name.Contains(filter!, StringComparison.OrdinalIgnoreCase)) continue;
                var result = runner.Run(test);
                counts.Add(result.Outcome);
                if (details is not null && result.Outcome == SingleStepOutcome.Failed && shown++ < maxDetailsPerFile)
                    details.WriteLine($"{form}: {result.Details}");
            }
            if (counts.Passed + counts.Failed + counts.Masked == 0) continue;
            output.WriteLine($"{form,-6} {counts.Passed,4} passed {counts.Failed,4} failed {counts.Masked,4} masked");
            total.Add(counts);
        }
        output.WriteLine($"{total.Passed} passed, {total.Failed} failed");
        return total;
    }
}
