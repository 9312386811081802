namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>The command-line names of the workloads.</summary>
public static class FaultWorkloads
{
    public static readonly IReadOnlyList<FaultWorkload> All = Enum.GetValues<FaultWorkload>();

    public static string Name(FaultWorkload w) => w.ToString().ToLowerInvariant();

    public static bool TryParse(string text, out FaultWorkload workload)
    {
        foreach (var w in All)
        {
            if (Name(w) == text)
            {
                workload = w;
                return true;
            }
        }
        workload = default;
        return false;
    }
}
