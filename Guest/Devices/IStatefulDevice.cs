namespace VmFt.Guest.Devices;

/// <summary>
/// A device whose whole state can be written and read back. Saving, loading into a fresh instance
/// and saving again yields identical bytes: snapshots and state hashes depend on it. Callbacks
/// given to the constructor (interrupt lines, output sinks) are wiring, not state: loading does not
/// call them, because the device at the other end (the PIC, the CPU's INTR pin) restores its own
/// copy of the line levels from the same snapshot.
/// </summary>
public interface IStatefulDevice
{
    /// <summary>
    /// The version of the layout <see cref="SaveState"/> writes. Bump it whenever a field is added,
    /// removed or reordered: a snapshot or recording holding another version is then refused with
    /// one clear line instead of being read into the wrong fields.
    /// </summary>
    byte StateVersion { get; }

    void SaveState(BinaryWriter w);

    void LoadState(BinaryReader r);
}
