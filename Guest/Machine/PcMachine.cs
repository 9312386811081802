using VmFt.Guest.Devices;
using VmFt.Guest.Devices.Pci;
using VmFt.Guest.Devices.Virtio;
using VmFt.Guest.Io;
using VmFt.Guest.Loaders;
using VmFt.Guest.Memory;
using VmFt.Guest.Processor;
using VmFt.Guest.Time;

namespace VmFt.Guest.Machine;

/// <summary>
/// The PC: CPU, RAM, port bus and the devices a guest expects (PICs, PIT, two UARTs, CMOS RTC,
/// debug exit and console, port 0x92, 8042, PCI bus 0 with an i440FX host bridge and a PIIX3 ISA bridge;
/// as configured, a virtio-blk disk and a virtio-net card).
/// <para>
/// It is deterministic. Guest time is anchored at (position, nanoseconds) points and runs at
/// <see cref="MachineConfiguration.NanosecondsPerInstruction"/> in between; the only ways time moves
/// otherwise are <see cref="SetTime"/> (the driver samples a host clock: realtime mode) and
/// <see cref="SkipIdleTime"/> (a halted guest jumps to its next timer: virtual mode). Serial input
/// arrives through <see cref="SerialInput"/>. Whoever drives the machine decides those calls and
/// their positions; a replay that makes the same calls at the same positions reaches the same states.
/// </para>
/// </summary>
public sealed class PcMachine : ICpuBus, IGuestClock
{
    private readonly MachineConfiguration _config;
    private readonly ITimedDevice[] _timed;
    private readonly DeviceStateSet _devices;
    private ulong _anchorPosition;
    private ulong _anchorNanoseconds;
    private MachineExitReason? _pendingExit;

    public PhysicalMemory Memory { get; }
    public PortBus Ports { get; } = new();
    public Cpu Cpu { get; }
    public DualPic Pic { get; }
    public Pit8254 Pit { get; }
    public Uart16550 Com1 { get; }
    public Uart16550 Com2 { get; }
    public CmosRtc Rtc { get; }
    public PciHost Pci { get; }
    /// <summary>The virtio-blk disk at 00:03.0, when the configuration has one.</summary>
    public VirtioBlock? Disk { get; }

    /// <summary>The virtio-net card at 00:04.0, when the configuration has one.</summary>
    public VirtioNet? Network { get; }

    /// <summary>The network card's slot, its ISA IRQ (through PIRQA) and where its BAR 0 goes (after the disk's).</summary>
    public const int NetworkSlot = 4, NetworkIrq = 10;
    public const uint NetworkBarAddress = DiskBarAddress + VirtioPciFunction.BarSize;

    /// <summary>Frames the guest sends on its network card, in its transmit order.</summary>
    public Action<byte[]>? NetworkOutput { get; set; }

    /// <summary>Where the machine's own firmware places the disk's BAR 0 (above any RAM size, clear of the ROM at the top).</summary>
    public const uint DiskBarAddress = 0xFEB0_0000;
    /// <summary>The disk's PCI slot, and the ISA IRQ its INTA# reaches (through PIRQD, as a PC BIOS would route it).</summary>
    public const int DiskSlot = 3, DiskIrq = 11;

    /// <summary>The status the guest gave the debug-exit device: (value &lt;&lt; 1) | 1.</summary>
    public int? ExitStatus { get; private set; }

    /// <summary>Bytes the guest sends on COM1 (the serial console).</summary>
    public Action<byte>? SerialOutput { get; set; }
    /// <summary>Bytes the guest writes to the debug console port 0xE9.</summary>
    public Action<byte>? DebugConsoleOutput { get; set; }
    /// <summary>Bytes the guest sends on COM2.</summary>
    public Action<byte>? Serial2Output { get; set; }
    /// <summary>Observes every port write (for --trace-port).</summary>
    public Action<ushort, int, uint>? PortWriteObserver { get; set; }
    /// <summary>Diagnostics from the CPU and machine (unimplemented instructions, shutdown).</summary>
    public Action<string>? Log
    {
        get => Cpu.Log;
        set => Cpu.Log = value;
    }

    public MachineConfiguration Configuration => _config;

    public PcMachine(MachineConfiguration config)
    {
        _config = config;
        Memory = new PhysicalMemory(config.RamSize);
        Cpu = new Cpu(Memory, this);
        Pic = new DualPic(level => Cpu.InterruptLine = level);
        Pit = new Pit8254(this, level => Pic.SetIrq(0, level));
        Com1 = new Uart16550(0x3F8, this, level => Pic.SetIrq(4, level), b => SerialOutput?.Invoke(b));
        Com2 = new Uart16550(0x2F8, this, level => Pic.SetIrq(3, level), b => Serial2Output?.Invoke(b));
        Rtc = new CmosRtc(config.BootTime, config.RamSize, this, level => Pic.SetIrq(8, level));
        // Address line 20 is the OR of the 8042's gate and port 0x92's, as on a PC chipset.
        Keyboard8042? keyboard = null;
        SystemControlPortA? portA = null;
        void SetA20(bool _) => Cpu.A20Enabled = keyboard!.A20Enabled || portA!.A20Enabled;
        keyboard = new Keyboard8042(level => Pic.SetIrq(1, level), SetA20, RequestReset, a20Enabled: true);
        portA = new SystemControlPortA(SetA20, RequestReset, a20Enabled: true);
        var debugExit = new DebugExit(OnDebugExit);
        var debugConsole = new DebugConsole(b => DebugConsoleOutput?.Invoke(b));
        var pci = Pci = new PciHost();
        var isaBridge = new Piix3IsaBridge(RequestReset);
        pci.Attach(0, 0, new I440fxHostBridge());
        pci.Attach(1, 0, isaBridge);
        if (config.Disk is { } disk)
        {
            // INTA# of slot 3 is PIRQD (the PIIX's swizzle: (slot + pin - 1) mod 4); its ISA IRQ is
            // whatever PIRQRC[D] routes it to when the line changes.
            Disk = new VirtioBlock(Memory, level => RoutePirq(isaBridge, (DiskSlot + 0) & 3, level), disk);
            pci.Attach(DiskSlot, 0, Disk);
            // What a PC BIOS leaves behind for an OS without ACPI: PIRQD routed to IRQ 11, that IRQ
            // level-triggered in the ELCR, the interrupt line register saying so, BAR 0 assigned.
            isaBridge.WriteConfig(0x60 + 3, 1, DiskIrq);
            Disk.WriteConfig(PciFunction.InterruptLineOffset, 1, DiskIrq);
            Disk.WriteConfig(PciFunction.BarOffset, 4, DiskBarAddress);
        }
        if (config.Network is { } network)
        {
            // Slot 4's INTA# is PIRQA; routed, level-triggered and assigned as for the disk.
            Network = new VirtioNet(Memory, level => RoutePirq(isaBridge, (NetworkSlot + 0) & 3, level), network, frame => NetworkOutput?.Invoke(frame));
            pci.Attach(NetworkSlot, 0, Network);
            isaBridge.WriteConfig(0x60 + 0, 1, NetworkIrq);
            Network.WriteConfig(PciFunction.InterruptLineOffset, 1, NetworkIrq);
            Network.WriteConfig(PciFunction.BarOffset, 4, NetworkBarAddress);
        }
        var post = new PostCodePort();
        var fpuError = new FpuErrorLatch(level => Pic.SetIrq(13, level), level => Cpu.IgnoreNumericError = level);
        Cpu.FerrChanged = fpuError.FerrChanged;

        Pic.Register(Ports);
        Pit.Register(Ports);
        Com1.Register(Ports);
        Com2.Register(Ports);
        Rtc.Register(Ports);
        keyboard.Register(Ports);
        portA.Register(Ports);
        debugExit.Register(Ports);
        debugConsole.Register(Ports);
        pci.Register(Ports);
        isaBridge.Register(Ports);
        post.Register(Ports);
        fpuError.Register(Ports);
        if (Disk is not null) Pic.Write(0x4D1, 1, Pic.Read(0x4D1, 1) | 1u << (DiskIrq - 8));
        if (Network is not null) Pic.Write(0x4D1, 1, Pic.Read(0x4D1, 1) | 1u << (NetworkIrq - 8));

        _timed = [Pit, Com1, Com2, Rtc];
        // The tags name each device's state in snapshots and recordings: never rename or reuse one.
        (string, IStatefulDevice)[] devices =
        [
            ("clock", new GuestClockState(this)), ("pic", Pic), ("pit", Pit), ("com1", Com1), ("com2", Com2),
            ("rtc", Rtc), ("kbc", keyboard), ("port92", portA), ("pci", pci), ("post", post), ("fpu", fpuError),
        ];
        // After "pci": the disk's BAR mapping follows its configuration space, loaded there.
        if (Disk is not null) devices = [.. devices, ("vblk", Disk.State)];
        if (Network is not null) devices = [.. devices, ("vnet", Network.State)];
        _devices = new DeviceStateSet(devices);
    }

    /// <summary>Loads a Multiboot kernel (ELF or a.out kludge) and sets the CPU to its entry state.</summary>
    public MultibootBoot LoadMultiboot(ReadOnlySpan<byte> image, string name, MultibootOptions? options = null)
    {
        var boot = MultibootLoader.Load(Memory, image, name, options);
        boot.State.ApplyTo(Cpu);
        return boot;
    }

    /// <summary>Loads a kernel, Linux bzImage or Multiboot as its image says, and sets the CPU to its entry state.</summary>
    public LoadedKernel LoadKernel(ReadOnlySpan<byte> image, string name, KernelOptions? options = null)
    {
        var kernel = KernelLoader.Load(Memory, image, name, options);
        kernel.State.ApplyTo(Cpu);
        return kernel;
    }

    /// <summary>Guest time in nanoseconds since power-on.</summary>
    public ulong Now => _anchorNanoseconds + (Cpu.Position - _anchorPosition) * _config.NanosecondsPerInstruction;

    /// <summary>
    /// Re-anchors guest time at the current position (realtime mode: the driver's sample of the host
    /// clock). Time never goes backwards: an earlier value than guest time already shows is ignored.
    /// </summary>
    public void SetTime(ulong nanoseconds)
    {
        ulong now = Now;
        _anchorPosition = Cpu.Position;
        _anchorNanoseconds = Math.Max(now, nanoseconds);
        FireTimers();
    }

    /// <summary>Earliest guest time at which some device needs attention; <c>ulong.MaxValue</c> if none.</summary>
    public ulong NextDeadline
    {
        get
        {
            ulong next = ulong.MaxValue;
            foreach (var d in _timed) next = Math.Min(next, d.NextDeadline);
            return next;
        }
    }

    /// <summary>Virtual mode: a halted guest's time jumps to its next timer deadline. Returns false when there is none.</summary>
    public bool SkipIdleTime()
    {
        ulong deadline = NextDeadline;
        if (deadline == ulong.MaxValue) return false;
        if (deadline > Now) SetTime(deadline);
        else FireTimers();
        return true;
    }

    /// <summary>Delivers bytes on COM1's receive line; returns how many the UART accepted (its FIFO may be full).</summary>
    public int SerialInput(ReadOnlySpan<byte> data)
    {
        int n = Math.Min(data.Length, Com1.ReceiveSpace);
        if (n > 0) Com1.Receive(data[..n]);
        return n;
    }

    /// <summary>Room in COM1's receive FIFO.</summary>
    public int SerialInputSpace => Com1.ReceiveSpace;

    /// <summary>
    /// Runs the guest until <paramref name="untilPosition"/>, firing device timers at their
    /// deadlines on the way. Returns <see cref="MachineExitReason.Idle"/> when the CPU halts and no
    /// timer falls due before the limit (the driver then skips or waits for time to pass).
    /// </summary>
    public MachineExitReason RunUntil(ulong untilPosition)
    {
        while (true)
        {
            if (_pendingExit is { } exit) return exit;
            FireTimers();
            // Halted with interrupts off stays dead however far the caller allows: say so even at
            // the limit (a replay that reaches the recorded HLT must see the same end).
            if (Cpu.Halted && (Cpu.Eflags & (1u << 9)) == 0) return MachineExitReason.DeadHalt;
            ulong position = Cpu.Position;
            if (position >= untilPosition) return MachineExitReason.PositionReached;

            // Stop at the position where the earliest deadline falls, so timers fire on time.
            ulong stop = untilPosition;
            ulong deadline = NextDeadline;
            if (deadline != ulong.MaxValue)
            {
                ulong now = Now;
                ulong due = deadline <= now ? position : position + (deadline - now + _config.NanosecondsPerInstruction - 1) / _config.NanosecondsPerInstruction;
                if (due < stop) stop = Math.Max(due, position + 1);
            }

            switch (Cpu.Run(stop))
            {
                case CpuExit.PositionReached:
                case CpuExit.StopRequested:
                    continue;
                case CpuExit.DebugTrap:
                    return MachineExitReason.DebugTrap;
                case CpuExit.Shutdown:
                    return _pendingExit ?? MachineExitReason.TripleFault;
                case CpuExit.Halted:
                    if (_pendingExit is { } e) return e;
                    if ((Cpu.Eflags & (1u << 9)) == 0) return MachineExitReason.DeadHalt;
                    return MachineExitReason.Idle;
            }
        }
    }

    private void FireTimers()
    {
        ulong now = Now;
        foreach (var d in _timed)
            if (d.NextDeadline <= now) d.Advance(now);
    }

    /// <summary>
    /// A PCI interrupt line PIRQ<paramref name="pirq"/> changed: on to the ISA IRQ the PIIX3 routes it
    /// to (PIRQRC bit 7 clear). Read at each change, so nothing here needs saving; a guest that
    /// reroutes a line while it is asserted leaves the old IRQ's level as it was, as its own doing.
    /// </summary>
    private void RoutePirq(Piix3IsaBridge bridge, int pirq, bool level)
    {
        uint route = bridge.ReadConfig(0x60 + pirq, 1);
        if ((route & 0x80) == 0 && (route & 0x0F) >= 3) Pic.SetIrq((int)(route & 0x0F), level);
    }

    private void OnDebugExit(int status)
    {
        ExitStatus = status;
        _pendingExit = MachineExitReason.DebugExit;
        Cpu.RequestStop();
    }

    private void RequestReset()
    {
        _pendingExit ??= MachineExitReason.ResetRequested;
        Cpu.RequestStop();
    }

    // ---- ICpuBus: the CPU's only way out ----

    uint ICpuBus.PortRead(ushort port, int size) => Ports.Read(port, size);

    void ICpuBus.PortWrite(ushort port, int size, uint value)
    {
        PortWriteObserver?.Invoke(port, size, value);
        Ports.Write(port, size, value);
        // A device may have moved its next deadline earlier: make the run loop look again.
        Cpu.RequestStop();
    }

    ulong ICpuBus.ReadTimeStampCounter(ulong position)
    {
        ulong ns = _anchorNanoseconds + (position - _anchorPosition) * _config.NanosecondsPerInstruction;
        return _config.TscHz == 1_000_000_000 ? ns : (ulong)((UInt128)ns * _config.TscHz / 1_000_000_000);
    }

    byte ICpuBus.AcknowledgeInterrupt() => Pic.Acknowledge();

    /// <summary>
    /// A 64-bit hash of the whole machine state: CPU (with its hidden caches), device state and
    /// RAM. RAM is hashed eight bytes at a time with a multiply-rotate mix (about 10 ms for 64 MiB),
    /// so two machines that went through the same events agree, and any difference shows.
    /// </summary>
    public ulong StateHash()
    {
        ulong h = Cpu.StateHash();
        using (var devices = new MemoryStream())
        {
            using (var w = new BinaryWriter(devices, System.Text.Encoding.UTF8, leaveOpen: true)) SaveDeviceState(w);
            foreach (byte b in devices.GetBuffer().AsSpan(0, (int)devices.Length)) h = (h ^ b) * 0x0000_0100_0000_01B3UL;
        }
        var words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(Memory.Ram.AsSpan());
        ulong a = h, b2 = ~h;
        for (int i = 0; i + 1 < words.Length; i += 2)
        {
            a = System.Numerics.BitOperations.RotateLeft((a ^ words[i]) * 0x9E37_79B9_7F4A_7C15UL, 29);
            b2 = System.Numerics.BitOperations.RotateLeft((b2 ^ words[i + 1]) * 0xC2B2_AE3D_27D4_EB4FUL, 31);
        }
        return a ^ System.Numerics.BitOperations.RotateLeft(b2, 17) ^ (ulong)words.Length;
    }

    /// <summary>
    /// The whole machine state now. RAM pages equal to the same page of <paramref name="sharePagesWith"/>
    /// reuse its arrays instead of copying (snapshots never change their pages).
    /// </summary>
    public MachineSnapshot TakeSnapshot(MachineSnapshot? sharePagesWith = null)
    {
        var (cpu, devices) = SaveStateBytes();
        var ram = Memory.Ram;
        int count = ram.Length / MachineSnapshot.PageSize;
        var pages = new byte[count][];
        int fresh = 0;
        var previous = sharePagesWith is not null && sharePagesWith.Pages.Count == count ? sharePagesWith.Pages : null;
        // Sharing with the clean base, a page nothing wrote since is the base's page as it is.
        bool fromBase = previous is not null && ReferenceEquals(sharePagesWith, _cleanBase);
        for (int i = 0; i < count; i++)
        {
            if (fromBase && !Memory.WasWritten(i))
            {
                pages[i] = previous![i];
                continue;
            }
            var current = ram.AsSpan(i * MachineSnapshot.PageSize, MachineSnapshot.PageSize);
            if (previous is not null && current.SequenceEqual(previous[i]))
            {
                pages[i] = previous[i];
                continue;
            }
            pages[i] = current.ToArray();
            fresh++;
        }
        var snapshot = new MachineSnapshot(Cpu.Position, cpu, devices, pages, _pendingExit, ExitStatus, fresh);
        StartCleanInterval(snapshot);
        return snapshot;
    }

    // RAM equals this snapshot's pages but for the pages PhysicalMemory notes as written since.
    private MachineSnapshot? _cleanBase;

    private void StartCleanInterval(MachineSnapshot snapshot)
    {
        _cleanBase = snapshot;
        Memory.ClearWritten();
        Cpu.MarkWritablePagesWritten();
    }

    /// <summary>
    /// Starts a new round of a live copy of RAM: from here on <see cref="PhysicalMemory.WasWritten"/>
    /// tells the pages written since (with every page the CPU may store to without asking, as for a
    /// snapshot). Changes no guest state. Snapshots forget their clean base, whose unwritten pages
    /// no longer mean equal pages: the next one compares instead.
    /// </summary>
    public void RestartWrittenPages()
    {
        _cleanBase = null;
        Memory.ClearWritten();
        Cpu.MarkWritablePagesWritten();
    }

    /// <summary>CPU and device state (everything but RAM) as <see cref="Processor.Cpu.SaveState"/> and <see cref="SaveDeviceState"/> write them.</summary>
    public (byte[] Cpu, byte[] Devices) SaveStateBytes()
    {
        byte[] cpu, devices;
        using (var stream = new MemoryStream())
        {
            using (var w = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true)) Cpu.SaveState(w);
            cpu = stream.ToArray();
        }
        using (var stream = new MemoryStream())
        {
            using (var w = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true)) SaveDeviceState(w);
            devices = stream.ToArray();
        }
        return (cpu, devices);
    }

    /// <summary>Puts the machine back in the state <paramref name="snapshot"/> holds (decoded code and translations are dropped).</summary>
    public void RestoreSnapshot(MachineSnapshot snapshot)
    {
        var ram = Memory.Ram;
        if (snapshot.Pages.Count != ram.Length / MachineSnapshot.PageSize)
            throw new ArgumentException("the snapshot was taken of a machine with a different RAM size", nameof(snapshot));
        // CPU and devices first, so that state this machine cannot take is refused before RAM changes,
        // and the CPU and devices are put back as they were.
        var (cpuBefore, devicesBefore) = SaveStateBytes();
        try
        {
            LoadCpuAndDevices(snapshot.CpuState, snapshot.DeviceState);
        }
        catch (MachineStateException)
        {
            LoadCpuAndDevices(cpuBefore, devicesBefore);
            throw;
        }
        // A page nothing wrote since the clean base, where the base and the snapshot share the
        // page, already holds it.
        var basePages = _cleanBase is not null && _cleanBase.Pages.Count == snapshot.Pages.Count ? _cleanBase.Pages : null;
        for (int i = 0; i < snapshot.Pages.Count; i++)
        {
            if (basePages is not null && ReferenceEquals(basePages[i], snapshot.Pages[i]) && !Memory.WasWritten(i)) continue;
            snapshot.Pages[i].CopyTo(ram, i * MachineSnapshot.PageSize);
        }
        _pendingExit = snapshot.PendingExit;
        ExitStatus = snapshot.ExitStatus;
        StartCleanInterval(snapshot);
    }

    /// <summary>
    /// Throws <see cref="MachineStateException"/> unless <paramref name="snapshot"/>'s CPU and device
    /// state is in the layouts and versions this machine reads (RAM size aside); changes nothing. A
    /// restore can still refuse field values a device rejects.
    /// </summary>
    public void CheckState(MachineSnapshot snapshot)
    {
        if (snapshot.CpuState.Length == 0 || snapshot.CpuState[0] != Processor.Cpu.StateVersion)
            throw new MachineStateException(snapshot.CpuState.Length == 0
                ? "CPU state: empty"
                : $"CPU state: version {snapshot.CpuState[0]} (its first byte) is not supported (this build reads version {Processor.Cpu.StateVersion})");
        _devices.Check(snapshot.DeviceState);
    }

    private void LoadCpuAndDevices(byte[] cpu, byte[] devices)
    {
        _devices.Load(devices);
        try
        {
            using var r = new BinaryReader(new MemoryStream(cpu));
            Cpu.LoadState(r);
        }
        catch (EndOfStreamException)
        {
            throw new MachineStateException($"CPU state: its {cpu.Length} bytes are shorter than version {Processor.Cpu.StateVersion}'s layout");
        }
        catch (InvalidDataException e)
        {
            throw new MachineStateException(e.Message);
        }
    }

    /// <summary>Device state (not CPU, not RAM) for snapshots and state hashes, in <see cref="DeviceStateSet"/>'s layout.</summary>
    public void SaveDeviceState(BinaryWriter w) => _devices.Save(w);

    /// <summary>Guest time's anchor, saved with the devices whose timers it drives.</summary>
    private sealed class GuestClockState(PcMachine machine) : IStatefulDevice
    {
        public byte StateVersion => 1;

        public void SaveState(BinaryWriter w)
        {
            w.Write(machine._anchorPosition);
            w.Write(machine._anchorNanoseconds);
        }

        public void LoadState(BinaryReader r)
        {
            machine._anchorPosition = r.ReadUInt64();
            machine._anchorNanoseconds = r.ReadUInt64();
        }
    }
}
