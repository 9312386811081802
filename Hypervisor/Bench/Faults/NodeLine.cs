namespace VmFt.Hypervisor.Bench.Faults;

/// <summary>A line a child process printed (or an action of the bench itself, Who = "bench"), stamped with the run clock.</summary>
public sealed record NodeLine(double Ms, string Who, string Text);
