using System.Text;
using VmFt.Guest.Devices;

namespace VmFt.Guest.Machine;

/// <summary>
/// The machine's stateful devices under their tags, and the layout their state takes in snapshots,
/// recordings and state hashes: "DEVS", a layout version, a count, then one entry per device: its tag
/// (length-prefixed ASCII), its <see cref="IStatefulDevice.StateVersion"/>, the length of its state
/// (u32) and the state. Loading checks every entry against the machine first, so a snapshot of a
/// machine with another set of devices, or with another version of one device's state, is refused by
/// name instead of being read into the wrong fields.
/// </summary>
internal sealed class DeviceStateSet
{
    private static ReadOnlySpan<byte> Magic => "DEVS"u8;
    /// <summary>Bump when the container itself (not a device's state) changes.</summary>
    private const byte LayoutVersion = 1;
    private const int MaxTagLength = 16;

    private readonly (string Tag, IStatefulDevice Device)[] _devices;
    private readonly MemoryStream _scratch = new();

    public DeviceStateSet(params (string Tag, IStatefulDevice Device)[] devices)
    {
        var seen = new HashSet<string>();
        foreach (var (tag, _) in devices)
            if (tag.Length is 0 or > MaxTagLength || !seen.Add(tag) || Encoding.ASCII.GetByteCount(tag) != tag.Length)
                throw new ArgumentException($"device tag '{tag}' is empty, too long, not ASCII or used twice", nameof(devices));
        if (devices.Length > byte.MaxValue) throw new ArgumentException("too many devices", nameof(devices));
        _devices = devices;
    }

    /// <summary>Throws <see cref="MachineStateException"/> unless <paramref name="state"/> holds exactly these devices at their versions; changes nothing.</summary>
    public void Check(ReadOnlySpan<byte> state) => Match(state);

    public void Save(BinaryWriter w)
    {
        w.Write(Magic);
        w.Write(LayoutVersion);
        w.Write((byte)_devices.Length);
        foreach (var (tag, device) in _devices)
        {
            _scratch.SetLength(0);
            using (var payload = new BinaryWriter(_scratch, Encoding.UTF8, leaveOpen: true)) device.SaveState(payload);
            w.Write((byte)tag.Length);
            w.Write(Encoding.ASCII.GetBytes(tag));
            w.Write(device.StateVersion);
            w.Write((uint)_scratch.Length);
            w.Write(_scratch.GetBuffer(), 0, (int)_scratch.Length);
        }
    }

    /// <summary>
    /// Loads every device from <paramref name="state"/>. Throws <see cref="MachineStateException"/> when
    /// the state does not fit this machine (checked before any device changes) or a device rejects its
    /// part (then the devices before it are already loaded: the caller rolls back).
    /// </summary>
    public void Load(ReadOnlySpan<byte> state)
    {
        var payloads = Match(state);
        for (int i = 0; i < _devices.Length; i++) LoadDevice(_devices[i].Tag, _devices[i].Device, payloads[i]);
    }

    private static void LoadDevice(string tag, IStatefulDevice device, byte[] payload)
    {
        using var reader = new BinaryReader(new MemoryStream(payload));
        try
        {
            device.LoadState(reader);
        }
        catch (EndOfStreamException)
        {
            throw new MachineStateException($"device state: device '{tag}': its {payload.Length} bytes of state are shorter than its layout");
        }
        catch (InvalidDataException e)
        {
            throw new MachineStateException($"device state: device '{tag}': {e.Message}");
        }
        if (reader.BaseStream.Position != payload.Length)
            throw new MachineStateException($"device state: device '{tag}': {payload.Length - reader.BaseStream.Position} bytes of its state are left over");
    }

    /// <summary>Parses the entries and pairs them with this machine's devices: the payloads in device order.</summary>
    private byte[][] Match(ReadOnlySpan<byte> state)
    {
        int at = 0;
        ReadOnlySpan<byte> Take(ReadOnlySpan<byte> s, int n, string what)
        {
            if (s.Length - at < n) throw new MachineStateException($"device state: cut short at byte {at} (reading {what})");
            var part = s.Slice(at, n);
            at += n;
            return part;
        }

        if (!Take(state, Magic.Length, "the header").SequenceEqual(Magic))
            throw new MachineStateException("device state: no 'DEVS' header: it was saved by an older build, whose device state carries no versions");
        byte layout = Take(state, 1, "the layout version")[0];
        if (layout != LayoutVersion)
            throw new MachineStateException($"device state: layout version {layout}; this build reads version {LayoutVersion}");
        int count = Take(state, 1, "the device count")[0];
        var byTag = new Dictionary<string, (byte Version, byte[] Payload)>();
        for (int i = 0; i < count; i++)
        {
            int tagLength = Take(state, 1, $"entry {i}'s tag length")[0];
            if (tagLength is 0 or > MaxTagLength)
                throw new MachineStateException($"device state: entry {i} at byte {at - 1} has a tag of {tagLength} bytes (1..{MaxTagLength})");
            var tagBytes = Take(state, tagLength, $"entry {i}'s tag");
            foreach (byte b in tagBytes)
                if (b is < 0x21 or > 0x7E) throw new MachineStateException($"device state: entry {i}'s tag at byte {at - tagLength} is not printable ASCII");
            string tag = Encoding.ASCII.GetString(tagBytes);
            byte version = Take(state, 1, $"device '{tag}''s version")[0];
            uint length = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(Take(state, 4, $"device '{tag}''s length"));
            if (length > (uint)(state.Length - at))
                throw new MachineStateException($"device state: device '{tag}' claims {length} bytes at byte {at}, but only {state.Length - at} follow");
            byte[] payload = Take(state, (int)length, $"device '{tag}''s state").ToArray();
            if (!byTag.TryAdd(tag, (version, payload)))
                throw new MachineStateException($"device state: device '{tag}' appears twice");
        }
        if (at != state.Length)
            throw new MachineStateException($"device state: {state.Length - at} bytes after the last device");

        var payloads = new byte[_devices.Length][];
        for (int i = 0; i < _devices.Length; i++)
        {
            var (tag, device) = _devices[i];
            if (!byTag.Remove(tag, out var entry))
                throw new MachineStateException($"device state: no state for device '{tag}' (it was saved by a machine without it)");
            if (entry.Version != device.StateVersion)
                throw new MachineStateException($"device state: device '{tag}' has state version {entry.Version}; this build reads version {device.StateVersion}");
            payloads[i] = entry.Payload;
        }
        if (byTag.Count > 0)
            throw new MachineStateException($"device state: device '{byTag.Keys.First()}' is not part of this machine");
        return payloads;
    }
}
