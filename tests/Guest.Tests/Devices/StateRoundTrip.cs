using VmFt.Guest.Devices;

namespace VmFt.Guest.Tests.Devices;

internal static class StateRoundTrip
{
    public static byte[] Save(IStatefulDevice device)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
            device.SaveState(writer);
        return stream.ToArray();
    }

    public static void Load(IStatefulDevice device, byte[] state)
    {
        using var stream = new MemoryStream(state);
        using var reader = new BinaryReader(stream);
        device.LoadState(reader);
        Xunit.Assert.Equal(state.Length, stream.Position);
    }

    /// <summary>Saves <paramref name="original"/>, loads it into <paramref name="fresh"/>, and checks that saving again gives the same bytes.</summary>
    public static void Copy(IStatefulDevice original, IStatefulDevice fresh)
    {
        byte[] state = Save(original);
        Load(fresh, state);
        Xunit.Assert.Equal(state, Save(fresh));
    }
}
