using System.Buffers.Binary;
using VmFt.Guest.Devices.Virtio;
using VmFt.Guest.Machine;
using static VmFt.Guest.Tests.Devices.Virtio.VirtioTestDriver;

namespace VmFt.Guest.Tests.Devices.Virtio;

/// <summary>virtio-blk over virtio-pci: configuration space, negotiation, requests, and what a driver can get wrong.</summary>
public class VirtioBlockTests
{
    private const uint Hdr = 0x30000, Status = 0x30100;

    [Fact]
    public void ConfigurationSpaceIsAModernVirtioBlockDeviceWithItsCapabilities()
    {
        var d = new VirtioTestDriver();
        Assert.Equal(0x1042_1AF4u, d.ReadConfig(0x00));
        Assert.Equal(0x01u, d.ReadConfig(0x08, 1));                 // revision 1: no legacy interface
        Assert.Equal(0x10u, d.ReadConfig(0x06, 2) & 0x10);           // capabilities list
        Assert.Equal(0x1100_1AF4u, d.ReadConfig(0x2C));
        Assert.Equal((uint)PcMachine.DiskIrq, d.ReadConfig(0x3C, 1));
        Assert.Equal(1u, d.ReadConfig(0x3D, 1));                     // INTA#
        var seen = new Dictionary<uint, (uint Offset, uint Length)>();
        uint at = d.ReadConfig(0x34, 1);
        for (int guard = 0; at != 0 && guard < 48; guard++)
        {
            uint head = d.ReadConfig((int)at);
            Assert.Equal(0x09u, head & 0xFF);                        // vendor-specific
            Assert.Equal(0u, d.ReadConfig((int)at + 4, 1));          // BAR 0
            seen[head >> 24] = (d.ReadConfig((int)at + 8), d.ReadConfig((int)at + 12));
            if (head >> 24 == 2) Assert.Equal(VirtioPciFunction.NotifyMultiplier, d.ReadConfig((int)at + 16));
            at = (head >> 8) & 0xFF;
        }
        Assert.Equal((VirtioPciFunction.CommonOffset, (uint)VirtioPciFunction.CommonLength), seen[1]);
        Assert.Equal(VirtioPciFunction.NotifyOffset, seen[2].Offset);
        Assert.Equal((VirtioPciFunction.IsrOffset, 1u), seen[3]);
        Assert.Equal(VirtioPciFunction.DeviceOffset, seen[4].Offset);
        // Capabilities are read-only.
        d.WriteConfig(0x40, 4, 0);
        Assert.Equal(0x09u, d.ReadConfig(0x40, 1));
    }

    [Fact]
    public void Bar0SizesAs16KiBAndDecodesOnlyWithMemoryEnabled()
    {
        var d = new VirtioTestDriver();
        Assert.Equal(PcMachine.DiskBarAddress, d.ReadConfig(0x10));
        Assert.Equal(0xFFFF_FFFFu, d.Machine.Memory.Read(d.Bar + 0x12, 2) | 0xFFFF_0000u);   // not decoded yet: all ones
        d.WriteConfig(0x04, 2, 0x0002);
        Assert.Equal(1u, d.Machine.Memory.Read(d.Bar + 0x12, 2));   // num_queues
        d.WriteConfig(0x04, 2, 0);
        d.WriteConfig(0x10, 4, 0xFFFF_FFFF);
        Assert.Equal(~(VirtioPciFunction.BarSize - 1), d.ReadConfig(0x10));
        // Moved elsewhere, it decodes there and no longer at the old address.
        d.WriteConfig(0x10, 4, 0xE000_0000);
        d.WriteConfig(0x04, 2, 0x0002);
        Assert.Equal(1u, d.Machine.Memory.Read(0xE000_0012, 2));
        Assert.Equal(0xFFu, d.Machine.Memory.Read(d.Bar + 0x12, 1));
        // A BAR placed over RAM decodes nothing (and RAM stays RAM).
        d.WriteConfig(0x10, 4, 0x0010_0000);
        Assert.Equal(Guest.Memory.PageKind.Ram, d.Machine.Memory.KindOf(0x0010_0000));
    }

    [Fact]
    public void AnAbsentSlotReadsAllOnes()
    {
        var d = new VirtioTestDriver();
        Assert.Equal(0xFFFF_FFFFu, d.ReadConfig(0x00, slot: 4));
        var bare = new PcMachine(new MachineConfiguration { RamSize = 4u << 20 });
        bare.Ports.Write(0xCF8, 4, 0x8000_0000u | 3u << 11);
        Assert.Equal(0xFFFF_FFFFu, bare.Ports.Read(0xCFC, 4));
        Assert.Null(bare.Disk);
    }

    [Fact]
    public void FeaturesOkNeedsVersion1AndOnlyOfferedBits()
    {
        var d = new VirtioTestDriver(readOnly: true);
        Assert.False(d.Initialize(0));                               // a legacy driver
        Assert.False(d.Initialize(Version1 | 1UL << 40));            // a bit never offered
        Assert.True(d.Initialize(Version1 | EventIndex));
        d.SetCommon(0x00, 4, 0);
        uint low = d.Common(0x04, 4);
        Assert.NotEqual(0u, low & 1u << VirtioBlock.FeatureReadOnly);
        Assert.NotEqual(0u, low & 1u << VirtioBlock.FeatureFlush);
        d.SetCommon(0x00, 4, 1);
        Assert.Equal(1u, d.Common(0x04, 4));                         // VERSION_1 is bit 32
        Assert.Equal(2048UL, d.Machine.Memory.Read(d.Bar + VirtioPciFunction.DeviceOffset, 4));   // capacity
    }

    private static VirtioTestDriver Ready(ulong features = Version1, bool readOnly = false)
    {
        var d = new VirtioTestDriver(readOnly: readOnly);
        Assert.True(d.Initialize(features));
        return d;
    }

    [Fact]
    public void AReadWaitsForTheHostThenLandsInGuestMemoryAndInterrupts()
    {
        var d = Ready();
        d.Header(Hdr, VirtioBlock.TypeIn, 5);
        d.Offer(d.Chain((Hdr, 16, false), (Data, 1024, true), (Status, 1, true)));
        var request = Assert.Single(d.Device.Pending);
        Assert.Equal((DiskRequestKind.Read, 5UL, 1024u), (request.Kind, request.Sector, request.Length));
        Assert.Equal(0, d.UsedIdx);                                  // nothing completes by itself
        Assert.False(d.Device.InterruptLevel);

        var data = Enumerable.Range(0, 1024).Select(i => (byte)(i * 7)).ToArray();
        Assert.Equal(DiskCompletionResult.WrongLength, d.Device.Complete(request.Id, 0, data.AsSpan(0, 512)));
        Assert.Equal(DiskCompletionResult.Completed, d.Device.Complete(request.Id, 0, data));
        Assert.Equal(data, d.Ram(Data, 1024).ToArray());
        Assert.Equal(0, d.Ram(Status, 1)[0]);
        Assert.Equal(1, d.UsedIdx);
        Assert.Equal((0u, 1025u), d.UsedElement(0));
        Assert.True(d.Device.InterruptLevel);
        // IRQ 11 is requested at the slave PIC (IRR bit 3), and reading the ISR lowers the line.
        Assert.NotEqual(0u, d.Machine.Ports.Read(0xA0, 1) & 0x08);
        Assert.Equal(1u, d.Machine.Memory.Read(d.Bar + VirtioPciFunction.IsrOffset, 1));
        Assert.False(d.Device.InterruptLevel);
        Assert.Equal(0u, d.Machine.Memory.Read(d.Bar + VirtioPciFunction.IsrOffset, 1));
        Assert.Equal(DiskCompletionResult.NotPending, d.Device.Complete(request.Id, 0, data));
    }

    [Fact]
    public void AWriteTakesItsDataWhenNotifiedAndAHeaderMaySpanDescriptors()
    {
        var d = Ready();
        d.Header(Hdr, VirtioBlock.TypeOut, 9);
        d.Ram(Data, 512).Fill(0xA5);
        // The header split 3 + 13 bytes, the data across two buffers.
        d.Offer(d.Chain((Hdr, 3, false), (Hdr + 3, 13, false), (Data, 100, false), (Data + 100, 412, false), (Status, 1, true)));
        d.Ram(Data, 512).Fill(0);                                    // the guest reuses its buffer: the request keeps what it had
        var request = Assert.Single(d.Device.Pending);
        Assert.Equal((DiskRequestKind.Write, 9UL, 512u), (request.Kind, request.Sector, request.Length));
        Assert.All(request.WriteData!, b => Assert.Equal(0xA5, b));
        Assert.Equal(DiskCompletionResult.Completed, d.Device.Complete(request.Id, 0, []));
        Assert.Equal((1u, 1u) with { Item1 = d.UsedElement(0).Id }, d.UsedElement(0));
    }

    [Fact]
    public void IndirectTablesAreFollowed()
    {
        var d = Ready(Version1 | IndirectDesc);
        d.Header(Hdr, VirtioBlock.TypeIn, 0);
        d.WriteDescriptor(Indirect, 0, Hdr, 16, 1, 1);
        d.WriteDescriptor(Indirect, 1, Data + 4090, 512, 2 | 1, 2);   // a buffer that crosses a page
        d.WriteDescriptor(Indirect, 2, Status, 1, 2, 0);
        d.WriteDescriptor(Desc, 0, Indirect, 48, 4, 0);
        d.Offer(0);
        var request = Assert.Single(d.Device.Pending);
        Assert.Equal(512u, request.Length);
        var data = new byte[512];
        Array.Fill(data, (byte)0x3C);
        d.Device.Complete(request.Id, 0, data);
        Assert.Equal(data, d.Ram(Data + 4090, 512).ToArray());
    }

    [Fact]
    public void GetIdUnsupportedTypesAndOutOfRangeSectorsCompleteAtOnce()
    {
        var d = Ready();
        d.Header(Hdr, VirtioBlock.TypeGetId, 0);
        d.Offer(d.Chain((Hdr, 16, false), (Data, 20, true), (Status, 1, true)));
        Assert.Equal("vmft-disk-0", System.Text.Encoding.ASCII.GetString(d.Ram(Data, 20)).TrimEnd('\0'));
        Assert.Equal(0, d.Ram(Status, 1)[0]);

        d.Header(Hdr, 11, 0);                                        // DISCARD: not offered
        d.Offer(d.Chain((Hdr, 16, false), (Status, 1, true)));
        Assert.Equal(VirtioBlock.StatusUnsupported, d.Ram(Status, 1)[0]);

        d.Header(Hdr, VirtioBlock.TypeIn, 2047);                     // two sectors from the last one
        d.Offer(d.Chain((Hdr, 16, false), (Data, 1024, true), (Status, 1, true)));
        Assert.Equal(VirtioBlock.StatusIoError, d.Ram(Status, 1)[0]);

        d.Header(Hdr, VirtioBlock.TypeIn, 0);                        // not a whole sector
        d.Offer(d.Chain((Hdr, 16, false), (Data, 100, true), (Status, 1, true)));
        Assert.Equal(VirtioBlock.StatusIoError, d.Ram(Status, 1)[0]);
        Assert.Empty(d.Device.Pending);
        Assert.Equal(4, d.UsedIdx);
        Assert.Null(d.Device.Error);
    }

    [Fact]
    public void WritesToAReadOnlyDiskFailWithIoError()
    {
        var d = Ready(readOnly: true);
        d.Header(Hdr, VirtioBlock.TypeOut, 0);
        d.Offer(d.Chain((Hdr, 16, false), (Data, 512, false), (Status, 1, true)));
        Assert.Equal(VirtioBlock.StatusIoError, d.Ram(Status, 1)[0]);
        Assert.Empty(d.Device.Pending);
        Assert.Equal(1, d.UsedIdx);
    }

    public static TheoryData<string> BrokenChains => new()
    {
        "buffer outside RAM", "descriptor loop", "next past the table", "indirect inside indirect",
        "indirect with next", "indirect of odd length", "readable after writable", "avail index too far", "head past the table",
    };

    [Theory]
    [MemberData(nameof(BrokenChains))]
    public void ABrokenChainSetsNeedsResetNeverThrows(string what)
    {
        var d = Ready(Version1 | IndirectDesc);
        d.Header(Hdr, VirtioBlock.TypeIn, 0);
        switch (what)
        {
            case "buffer outside RAM": d.Offer(d.Chain((Hdr, 16, false), (0xFFFF_F000, 512, true), (Status, 1, true))); break;
            case "descriptor loop":
                d.WriteDescriptor(Desc, 0, Hdr, 16, 3, 1);
                d.WriteDescriptor(Desc, 1, Data, 512, 3, 0);
                d.Offer(0);
                break;
            case "next past the table":
                d.WriteDescriptor(Desc, 0, Hdr, 16, 1, QueueSize);
                d.Offer(0);
                break;
            case "indirect inside indirect":
                d.WriteDescriptor(Indirect, 0, Indirect, 16, 4, 0);
                d.WriteDescriptor(Desc, 0, Indirect, 16, 4, 0);
                d.Offer(0);
                break;
            case "indirect with next":
                d.WriteDescriptor(Desc, 0, Indirect, 16, 4 | 1, 1);
                d.Offer(0);
                break;
            case "indirect of odd length":
                d.WriteDescriptor(Desc, 0, Indirect, 20, 4, 0);
                d.Offer(0);
                break;
            case "readable after writable": d.Offer(d.Chain((Data, 512, true), (Hdr, 16, false), (Status, 1, true))); break;
            case "avail index too far":
                BinaryPrimitives.WriteUInt16LittleEndian(d.Ram(Avail + 2, 2), QueueSize + 1);
                d.Notify();
                break;
            case "head past the table":
                d.Offer(200);
                break;
        }
        Assert.Equal(VirtioPciFunction.StatusNeedsReset, d.Status & VirtioPciFunction.StatusNeedsReset);
        Assert.NotNull(d.Device.Error);
        Assert.True(d.Device.InterruptLevel);                        // a configuration-change interrupt
        Assert.Equal(2u, d.Machine.Memory.Read(d.Bar + VirtioPciFunction.IsrOffset, 1));
        Assert.Empty(d.Device.Pending);
        // Nothing more is processed until a reset; after one the device works again.
        d.Notify();
        Assert.Contains(what == "descriptor loop" ? "loop" : "", d.Device.Error);
        d.Ram(Avail, 4).Clear();
        Assert.True(d.Initialize(Version1));
        Assert.Null(d.Device.Error);
    }

    [Fact]
    public void AQueueWithBadRingsIsRefusedWhenEnabled()
    {
        var d = new VirtioTestDriver();
        d.WriteConfig(0x04, 2, 0x0006);
        d.SetCommon(0x14, 1, 1);
        d.SetCommon(0x14, 1, 3);
        d.SetCommon(0x08, 4, 1);
        d.SetCommon(0x0C, 4, 1);
        d.SetCommon(0x14, 1, 0x0B);
        d.SetCommon(0x18, 2, 12);                                    // not a power of two
        d.SetCommon(0x1C, 2, 1);
        Assert.Equal(0u, d.Common(0x1C, 2));
        Assert.NotEqual(0, d.Status & VirtioPciFunction.StatusNeedsReset);
    }

    [Fact]
    public void AResetDropsPendingRequestsAndTheirLateCompletions()
    {
        var d = Ready();
        d.Header(Hdr, VirtioBlock.TypeIn, 0);
        d.Offer(d.Chain((Hdr, 16, false), (Data, 512, true), (Status, 1, true)));
        ulong id = d.Device.Pending[0].Id;
        d.SetCommon(0x14, 1, 0);
        Assert.Empty(d.Device.Pending);
        Assert.Equal(0u, d.Common(0x1C, 2));
        d.Ram(Data, 512).Fill(0x11);
        Assert.Equal(DiskCompletionResult.NotPending, d.Device.Complete(id, 0, new byte[512]));
        Assert.All(d.Ram(Data, 512).ToArray(), b => Assert.Equal(0x11, b));
        Assert.Equal(0, d.UsedIdx);
        // Ids keep growing across the reset, so a host never confuses an old request with a new one.
        Assert.True(d.Initialize(Version1));
        d.Header(Hdr, VirtioBlock.TypeIn, 0);
        d.Offer(d.Chain((Hdr, 16, false), (Data, 512, true), (Status, 1, true)));
        Assert.True(d.Device.Pending[0].Id > id);
    }

    [Fact]
    public void NotificationsBeforeDriverOkWaitForIt()
    {
        var d = new VirtioTestDriver();
        Assert.True(d.Initialize(Version1, driverOk: false));
        d.Header(Hdr, VirtioBlock.TypeIn, 0);
        d.Offer(d.Chain((Hdr, 16, false), (Data, 512, true), (Status, 1, true)));
        Assert.Empty(d.Device.Pending);
        d.SetCommon(0x14, 1, 0x0F);
        Assert.Single(d.Device.Pending);
    }

    [Fact]
    public void EventIndexSuppressesInterruptsAndPublishesAvailEvent()
    {
        var d = Ready(Version1 | EventIndex);
        BinaryPrimitives.WriteUInt16LittleEndian(d.Ram(Avail + 4 + 2 * QueueSize, 2), 1);   // used_event: interrupt after entry 1
        for (int i = 0; i < 2; i++)
        {
            d.Header(Hdr, VirtioBlock.TypeFlush, 0);
            d.Offer(d.Chain((Hdr, 16, false), (Status + (uint)i, 1, true)));
        }
        Assert.Equal(2, BinaryPrimitives.ReadUInt16LittleEndian(d.Ram(Used + 4 + 8 * QueueSize, 2)));   // avail_event
        d.Device.Complete(d.Device.Pending[0].Id, 0, []);
        Assert.False(d.Device.InterruptLevel);                       // used idx 1: not past used_event
        d.Device.Complete(d.Device.Pending[0].Id, 0, []);
        Assert.True(d.Device.InterruptLevel);                        // used idx 2 crosses it
    }

    [Fact]
    public void NoInterruptFlagIsHonouredWithoutEventIndex()
    {
        var d = Ready();
        BinaryPrimitives.WriteUInt16LittleEndian(d.Ram(Avail, 2), 1);
        d.Header(Hdr, VirtioBlock.TypeGetId, 0);
        d.Offer(d.Chain((Hdr, 16, false), (Data, 20, true), (Status, 1, true)));
        Assert.Equal(1, d.UsedIdx);
        Assert.False(d.Device.InterruptLevel);
    }

    [Fact]
    public void PendingRequestsSurviveASnapshotAndCompleteTheSame()
    {
        var a = Ready();
        a.Header(Hdr, VirtioBlock.TypeIn, 3);
        a.Offer(a.Chain((Hdr, 16, false), (Data, 512, true), (Status, 1, true)));
        a.Ram(Data, 512).Fill(0x5A);
        a.Header(Hdr + 0x40, VirtioBlock.TypeOut, 4);
        a.Offer(a.Chain((Hdr + 0x40, 16, false), (Data, 512, false), (Status + 1, 1, true)));
        var snapshot = a.Machine.TakeSnapshot();

        var b = new VirtioTestDriver();
        b.Machine.RestoreSnapshot(snapshot);
        Assert.Equal(a.Machine.StateHash(), b.Machine.StateHash());
        Assert.Equal(2, b.Device.Pending.Count);
        Assert.Equal(a.Device.Pending[1].WriteData, b.Device.Pending[1].WriteData);
        Assert.Equal(1u, b.Machine.Memory.Read(b.Bar + 0x12, 2));    // BAR 0 decodes after the restore
        var data = new byte[512];
        Array.Fill(data, (byte)0x77);
        foreach (var m in new[] { a, b })
        {
            m.Device.Complete(1, 0, data);
            m.Device.Complete(2, 0, []);
        }
        Assert.Equal(a.Machine.StateHash(), b.Machine.StateHash());
        Assert.Equal(2, b.UsedIdx);
    }
}
