namespace VmFt.Hypervisor.Conformance;

public enum SingleStepOutcome
{
    Passed,
    Failed,
    /// <summary>Not compared: a documented 286-versus-i686 difference makes the vector meaningless here.</summary>
    Masked,
}
