namespace VmFt.Hypervisor.Conformance;

/// <summary>A vector file that cannot be read: missing, not gzip, not JSON, or JSON of the wrong shape.</summary>
public sealed class ConformanceInputException(string message, Exception? inner = null) : InputException(message, inner);
