namespace VmFt.Hypervisor.FaultTolerance.Processes;

/// <summary>A line a child process printed: when it arrived (the owner's clock, ms), who printed it, on which stream.</summary>
public sealed record ChildLine(double Ms, string Child, bool Error, string Text);
