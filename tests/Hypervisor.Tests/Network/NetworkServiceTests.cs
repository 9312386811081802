using System.Diagnostics.CodeAnalysis;
using VmFt.Guest.Devices.Virtio;
using VmFt.Guest.Machine;
using VmFt.Hypervisor.Determinism;
using VmFt.Hypervisor.Network;
using VmFt.ReplayLog.Events;
using VmFt.ReplayLog.Format;
using Xunit;

namespace VmFt.Hypervisor.Tests.Network;

/// <summary>The card's host side against a backend in memory: what waits, what is logged, what goes out and in which order.</summary>
public sealed class NetworkServiceTests
{
    private sealed class MemoryBackend : INetworkBackend
    {
        public readonly Queue<byte[]> Arriving = new();
        public readonly List<byte[]> SentFrames = [];
        public string Name => "memory";
        public bool FrameWaiting => Arriving.Count > 0;
        public ulong Dropped => 0;
        public bool TryReceive([NotNullWhen(true)] out byte[]? frame) => Arriving.TryDequeue(out frame);
        public bool WaitForFrame(TimeSpan timeout) => FrameWaiting;
        public void Send(ReadOnlySpan<byte> frame) => SentFrames.Add(frame.ToArray());
        public void Dispose() { }
    }

    private sealed class Sink : IEventSink
    {
        public readonly List<LogEvent> Events = [];
        public void Append(LogEvent e) => Events.Add(e);
    }

    [Fact]
    public void TheCardAndTheLogTakeTheSameLongestFrame() => Assert.Equal(LogBlockCodec.MaxNetFrameLength, VirtioNet.MaxFrameLength);

    [Fact]
    public void FramesWaitInTheBackendWhileTheGuestHasNoReceiveBufferAndNothingIsLogged()
    {
        var machine = new PcMachine(new MachineConfiguration { RamSize = 4u << 20, Network = NetworkConfiguration.Default });
        var backend = new MemoryBackend();
        backend.Arriving.Enqueue(new byte[60]);
        backend.Arriving.Enqueue(new byte[70]);
        var service = new NetworkService(machine, backend);
        var sink = new Sink();
        var recorder = new Recorder(machine, sink);
        Assert.Equal(0, service.Service(recorder));
        Assert.False(service.HasWork);
        Assert.Equal(2, backend.Arriving.Count);
        Assert.Empty(sink.Events);
        Assert.Equal(0UL, machine.Network!.ReceiveDroppedNoBuffer);   // not dropped: still waiting
    }

    [Fact]
    public void WhatTheGuestSendsGoesOutOnFlushInItsOrder()
    {
        var machine = new PcMachine(new MachineConfiguration { RamSize = 4u << 20, Network = NetworkConfiguration.Default });
        var backend = new MemoryBackend();
        var service = new NetworkService(machine, backend);
        for (byte i = 0; i < 5; i++) machine.NetworkOutput!([i, i]);
        Assert.Empty(backend.SentFrames);
        service.Flush();
        Assert.Equal([0, 1, 2, 3, 4], backend.SentFrames.Select(f => (int)f[0]));
        service.Flush();
        Assert.Equal(5, backend.SentFrames.Count);
        Assert.Equal(5UL, service.FramesOut);
    }

    [Fact]
    public void AMachineWithoutACardTakesNoService() =>
        Assert.Throws<ArgumentException>(() => new NetworkService(new PcMachine(new MachineConfiguration { RamSize = 4u << 20 }), new MemoryBackend()));
}
