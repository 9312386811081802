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
    void SaveState(BinaryWriter w);

    void LoadState(BinaryReader r);
}
