namespace VmFt.Hypervisor.Debugging;

/// <summary>What <see cref="RecordingDiff"/> found.</summary>
public enum DiffOutcome
{
    /// <summary>Both runs cover the same positions and agree at every one of them.</summary>
    Identical,
    /// <summary>The recordings boot different images or machine configurations: their runs are not comparable position by position.</summary>
    ConfigurationDiffers,
    /// <summary>One run is a prefix of the other: they agree up to the shorter one's end.</summary>
    LengthDiffers,
    /// <summary>The machine states differ from <see cref="RecordingDiffResult.Position"/> on.</summary>
    StateDiffers,
    /// <summary>A recording does not replay on this build (its own log contradicts the replay); the message says where.</summary>
    NotReproducible,
}
