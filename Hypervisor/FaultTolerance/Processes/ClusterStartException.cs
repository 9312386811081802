namespace VmFt.Hypervisor.FaultTolerance.Processes;

/// <summary>A child process of an FT cluster did not start: it exited, or did not say it was ready in time. The message is one line with the child's last words.</summary>
public sealed class ClusterStartException(string message) : Exception(message);
