using System.Buffers.Binary;
using VmFt.Guest.Devices.Virtio;
using VmFt.Guest.Machine;
using static VmFt.Guest.Tests.Devices.Virtio.NetTestDriver;

namespace VmFt.Guest.Tests.Devices.Virtio;

/// <summary>virtio-net over virtio-pci: identity and configuration, both directions, and what a driver can get wrong.</summary>
public class VirtioNetTests
{
    private const int Hdr = VirtioNet.HeaderLength;
    private const uint SmallBuffer = Hdr + 1518;

    [Fact]
    public void ItIsAModernVirtioNetCardWithItsMacAndTheLinkUp()
    {
        var d = new NetTestDriver(mac: 0x02_11_22_33_44_55);
        Assert.Equal(0x1041_1AF4u, d.ReadConfig(0x00));
        Assert.Equal(0x02_00_00u, d.ReadConfig(0x08) >> 8);            // network controller, Ethernet
        Assert.Equal((uint)PcMachine.NetworkIrq, d.ReadConfig(0x3C, 1));
        Assert.Equal(PcMachine.NetworkBarAddress, d.ReadConfig(0x10));
        d.WriteConfig(0x04, 2, 0x0006);
        Assert.Equal(2u, d.Common(0x12, 2));                             // two queues: receive, transmit
        byte[] mac = [.. Enumerable.Range(0, 6).Select(i => (byte)d.DeviceConfig((uint)i, 1))];
        Assert.Equal(new byte[] { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 }, mac);
        Assert.Equal((uint)VirtioNet.StatusLinkUp, d.DeviceConfig(6, 2));
        ulong offered = d.Common(0x04, 4);
        d.SetCommon(0x00, 4, 1);
        offered |= (ulong)d.Common(0x04, 4) << 32;
        Assert.Equal(1UL << VirtioNet.FeatureMac | 1UL << VirtioNet.FeatureStatus | VirtioTestDriver.Version1
            | VirtioTestDriver.IndirectDesc | VirtioTestDriver.EventIndex, offered);
        // No offloads and no mergeable buffers: a driver asking for them fails FEATURES_OK.
        d.SetCommon(0x14, 1, 3);
        d.SetCommon(0x08, 4, 0);
        d.SetCommon(0x0C, 4, 1u << 15);                                  // MRG_RXBUF
        d.SetCommon(0x08, 4, 1);
        d.SetCommon(0x0C, 4, 1);
        d.SetCommon(0x14, 1, 0x0B);
        Assert.Equal(0, d.Status & 0x08);
    }

    [Fact]
    public void AMachineWithoutACardHasNothingInSlot4()
    {
        var m = new PcMachine(new MachineConfiguration { RamSize = 4u << 20 });
        Assert.Null(m.Network);
        m.Ports.Write(0xCF8, 4, 0x8000_0000u | (uint)PcMachine.NetworkSlot << 11);
        Assert.Equal(0xFFFF_FFFFu, m.Ports.Read(0xCFC, 4));
    }

    [Fact]
    public void ATransmittedFrameIsGatheredAcrossBuffersWithoutItsHeaderAndCompletesAtOnce()
    {
        var d = new NetTestDriver();
        d.Initialize();
        var frame = Frame(100);
        d.Ram(TxData, Hdr).Fill(0xAA);                     // the header's contents do not matter (no offloads)
        frame.AsSpan(0, 30).CopyTo(d.Ram(TxData + 0x100, 30));
        frame.AsSpan(30).CopyTo(d.Ram(TxData + 0x200, 70));
        // The header split across two descriptors too, as a driver may.
        ushort head = d.Offer(VirtioNet.TransmitQueue, true, (TxData, 5, false), (TxData + 5, Hdr - 5, false),
            (TxData + 0x100, 30, false), (TxData + 0x200, 70, false));
        Assert.Single(d.Sent);
        Assert.Equal(frame, d.Sent[0]);
        Assert.Equal(1, d.UsedIdx(VirtioNet.TransmitQueue));
        Assert.Equal((head, 0u), d.UsedElement(VirtioNet.TransmitQueue, 0));
        Assert.Equal(1UL, d.Device.TransmittedFrames);
        Assert.NotEqual(0, d.Device.Isr & 1);
    }

    [Fact]
    public void ATransmitChainWithoutAWholeHeaderAndEthernetHeaderIsCompletedAndNotSent()
    {
        var d = new NetTestDriver();
        d.Initialize();
        d.Offer(VirtioNet.TransmitQueue, true, (TxData, Hdr + 13, false));
        d.Offer(VirtioNet.TransmitQueue, true, (TxData, 4, false));
        Assert.Empty(d.Sent);
        Assert.Equal(2, d.UsedIdx(VirtioNet.TransmitQueue));
        Assert.Equal(2UL, d.Device.TransmitDropped);
        Assert.Equal(0UL, d.Device.TransmittedFrames);
        Assert.Null(d.Device.Error);
    }

    [Fact]
    public void AReceivedFrameLandsBehindAHeaderWithOneBufferAndInterrupts()
    {
        var d = new NetTestDriver();
        d.Initialize();
        Assert.False(d.Device.CanReceive);
        d.Ram(RxData, (int)SmallBuffer).Fill(0xEE);
        ushort head = d.PostReceive(SmallBuffer);
        Assert.True(d.Device.CanReceive);
        var frame = Frame(1514);
        Assert.Equal(NetReceiveResult.Delivered, d.Device.Receive(frame));
        var header = d.Ram(RxData, Hdr);
        Assert.True(header[..10].ToArray().All(b => b == 0));
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(header[10..]));   // num_buffers
        Assert.Equal(frame, d.Ram(RxData + Hdr, frame.Length).ToArray());
        Assert.Equal(0xEE, d.Ram(RxData + Hdr + (uint)frame.Length, 1)[0]);        // not a byte more
        Assert.Equal((head, (uint)(Hdr + frame.Length)), d.UsedElement(VirtioNet.ReceiveQueue, 0));
        Assert.True(d.Device.InterruptLevel);
        Assert.Equal(1UL, d.Device.ReceivedFrames);
        Assert.False(d.Device.CanReceive);
    }

    [Fact]
    public void AFrameSpreadsOverAChainOfSmallBuffers()
    {
        var d = new NetTestDriver();
        d.Initialize();
        d.Offer(VirtioNet.ReceiveQueue, true, (RxData, 7, true), (RxData + 0x100, 100, true), (RxData + 0x1000, 2000, true));
        var frame = Frame(600);
        Assert.Equal(NetReceiveResult.Delivered, d.Device.Receive(frame));
        var seen = d.Ram(RxData, 7).ToArray().Concat(d.Ram(RxData + 0x100, 100).ToArray()).Concat(d.Ram(RxData + 0x1000, 2000).ToArray()).ToArray();
        Assert.Equal(frame, seen[Hdr..(Hdr + frame.Length)]);
    }

    [Fact]
    public void AFrameLargerThanTheBuffersIsDroppedAndCountedAndTheChainServesTheNextFrame()
    {
        var d = new NetTestDriver();
        d.Initialize();
        ushort head = d.PostReceive(SmallBuffer);
        Assert.Equal(NetReceiveResult.TooLarge, d.Device.Receive(Frame(1519)));    // one byte too many
        Assert.Equal(NetReceiveResult.TooLarge, d.Device.Receive(Frame(9000)));
        Assert.Equal(NetReceiveResult.TooLarge, d.Device.Receive(new byte[VirtioNet.MaxFrameLength + 1]));
        Assert.Equal(3UL, d.Device.ReceiveDroppedTooLarge);
        Assert.Equal(0, d.UsedIdx(VirtioNet.ReceiveQueue));
        Assert.True(d.Device.CanReceive);
        var frame = Frame(1518, seed: 9);
        Assert.Equal(NetReceiveResult.Delivered, d.Device.Receive(frame));
        Assert.Equal((head, SmallBuffer), d.UsedElement(VirtioNet.ReceiveQueue, 0));
        Assert.Equal(frame, d.Ram(RxData + Hdr, frame.Length).ToArray());
        Assert.Null(d.Device.Error);
    }

    [Fact]
    public void AGuestThatNeverPostsReceiveBuffersLosesFramesCountedAndTheDeviceDoesNotGrow()
    {
        var d = new NetTestDriver();
        int before = Devices.StateRoundTrip.Save(d.Device.State).Length;
        // Before the driver runs, and after it runs without posting.
        for (int i = 0; i < 500; i++) Assert.Equal(NetReceiveResult.NoBuffer, d.Device.Receive(Frame(1514)));
        d.Initialize();
        for (int i = 0; i < 10_000; i++) Assert.Equal(NetReceiveResult.NoBuffer, d.Device.Receive(Frame(60 + i % 1400)));
        Assert.Equal(10_500UL, d.Device.ReceiveDroppedNoBuffer);
        Assert.Equal(0UL, d.Device.ReceivedFrames);
        Assert.Equal(0, d.UsedIdx(VirtioNet.ReceiveQueue));
        Assert.Equal(before, Devices.StateRoundTrip.Save(d.Device.State).Length);
        Assert.Null(d.Device.Error);
    }

    [Fact]
    public void TheRingsWrapAroundOverManyMoreFramesThanEntries()
    {
        var d = new NetTestDriver();
        d.Initialize(VirtioTestDriver.EventIndex);
        for (int slot = 0; slot < QueueSize; slot++) d.PostReceive(SmallBuffer, slot);
        for (int i = 0; i < 5 * QueueSize; i++)
        {
            var frame = Frame(60 + i, seed: (byte)i);
            Assert.Equal(NetReceiveResult.Delivered, d.Device.Receive(frame));
            int slot = i % QueueSize;
            Assert.Equal(frame, d.Ram(RxData + 0x2000u * (uint)slot + Hdr, frame.Length).ToArray());
            d.PostReceive(SmallBuffer, slot);          // refill, as a driver does
            d.Offer(VirtioNet.TransmitQueue, true, (TxData, (uint)(Hdr + 60), false));
        }
        Assert.Equal((ushort)(5 * QueueSize), d.UsedIdx(VirtioNet.ReceiveQueue));
        Assert.Equal((ushort)(5 * QueueSize), d.UsedIdx(VirtioNet.TransmitQueue));
        Assert.Equal(5 * QueueSize, d.Sent.Count);
        Assert.Null(d.Device.Error);
    }

    [Fact]
    public void AResetWithFramesInFlightForgetsThePostedBuffersAndTheCardWorksAgainAfter()
    {
        var d = new NetTestDriver();
        d.Initialize();
        for (int slot = 0; slot < 4; slot++) d.PostReceive(SmallBuffer, slot);
        Assert.Equal(NetReceiveResult.Delivered, d.Device.Receive(Frame(100)));   // delivered, the guest has not looked yet
        d.Ram(RxData + 0x2000, 0x2000).Fill(0x55);
        d.SetCommon(0x14, 1, 0);                                                  // reset with three buffers posted
        Assert.Equal(0, d.Status);
        Assert.False(d.Device.CanReceive);
        Assert.Equal(NetReceiveResult.NoBuffer, d.Device.Receive(Frame(100)));
        Assert.True(d.Ram(RxData + 0x2000, 0x2000).ToArray().All(b => b == 0x55)); // the forgotten buffers are not written
        Assert.False(d.Device.InterruptLevel);
        d.Initialize();
        d.PostReceive(SmallBuffer, 5);
        var frame = Frame(200, seed: 3);
        Assert.Equal(NetReceiveResult.Delivered, d.Device.Receive(frame));
        Assert.Equal(1, d.UsedIdx(VirtioNet.ReceiveQueue));
        Assert.Equal(frame, d.Ram(RxData + 0x2000u * 5 + Hdr, frame.Length).ToArray());
        Assert.Equal(2UL, d.Device.ReceivedFrames);                               // the card's counts go on across resets
    }

    [Fact]
    public void AReceiveChainWithADeviceReadableBufferBreaksTheRules()
    {
        var d = new NetTestDriver();
        d.Initialize();
        d.Offer(VirtioNet.ReceiveQueue, true, (RxData, SmallBuffer, false));
        Assert.Equal(NetReceiveResult.NoBuffer, d.Device.Receive(Frame(60)));
        Assert.NotEqual(0, d.Status & VirtioPciFunction.StatusNeedsReset);
        Assert.Contains("device-readable", d.Device.Error);
        Assert.False(d.Device.CanReceive);
    }

    [Fact]
    public void AnAvailableIndexTooFarAheadBreaksTheRulesOnEitherQueue()
    {
        var rx = new NetTestDriver();
        rx.Initialize();
        rx.SetAvailIdx(VirtioNet.ReceiveQueue, QueueSize + 1);
        Assert.Equal(NetReceiveResult.NoBuffer, rx.Device.Receive(Frame(60)));
        Assert.Contains("ahead of the device", rx.Device.Error);

        var tx = new NetTestDriver();
        tx.Initialize();
        tx.SetAvailIdx(VirtioNet.TransmitQueue, 200);
        tx.Notify(VirtioNet.TransmitQueue);
        Assert.Contains("ahead of the device", tx.Device.Error);
        Assert.Empty(tx.Sent);
    }

    [Fact]
    public void AReceiveBufferOutsideRamBreaksTheRulesAndNothingIsWritten()
    {
        var d = new NetTestDriver();
        d.Initialize();
        d.Offer(VirtioNet.ReceiveQueue, true, ((4u << 20) - 100, SmallBuffer, true));
        Assert.Equal(NetReceiveResult.NoBuffer, d.Device.Receive(Frame(60)));
        Assert.Contains("outside RAM", d.Device.Error);
        Assert.Equal(0, d.UsedIdx(VirtioNet.ReceiveQueue));
    }

    [Fact]
    public void TheCardsStateRoundTripsAndJoinsTheMachineStateHash()
    {
        var d = new NetTestDriver();
        d.Initialize();
        d.PostReceive(SmallBuffer);
        d.Device.Receive(Frame(80));
        d.Device.Receive(Frame(80));
        d.Offer(VirtioNet.TransmitQueue, true, (TxData, Hdr + 60, false));
        var copy = new NetTestDriver();
        Devices.StateRoundTrip.Copy(d.Device.State, copy.Device.State);
        Assert.Equal(1UL, copy.Device.ReceivedFrames);
        Assert.Equal(1UL, copy.Device.ReceiveDroppedNoBuffer);
        Assert.Equal(1UL, copy.Device.TransmittedFrames);

        // A frame that is only dropped changes nothing in RAM, but the count shows in the hash.
        ulong hash = d.Machine.StateHash();
        d.Device.Receive(Frame(80));
        Assert.NotEqual(hash, d.Machine.StateHash());
        var snapshot = d.Machine.TakeSnapshot();
        var other = new NetTestDriver();
        other.Machine.RestoreSnapshot(snapshot);
        Assert.Equal(d.Machine.StateHash(), other.Machine.StateHash());
    }
}
