using VmFt.Guest.Time;

namespace VmFt.Guest.Tests.Devices;

/// <summary>A guest clock the test sets by hand.</summary>
internal sealed class ManualClock : IGuestClock
{
    public ulong Now { get; set; }
}
