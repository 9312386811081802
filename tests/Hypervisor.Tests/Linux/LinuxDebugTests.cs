using VmFt.Hypervisor.Bench;
using VmFt.Hypervisor.Debugging;
using VmFt.Hypervisor.Tests.Debugging;
using VmFt.Hypervisor.Tests.Debugging.Gdb;
using VmFt.ReplayLog.Events;
using Xunit;
using Xunit.Abstractions;

namespace VmFt.Hypervisor.Tests.Linux;

/// <summary>Runs only where build.sh fetched the kernel's real System.map (CI builds without it: the -dbg package is 765 MB).</summary>
public sealed class RequiresSystemMapFactAttribute : FactAttribute
{
    public RequiresSystemMapFactAttribute()
    {
        var image = LinuxGuestImage.Default;
        if (image.Problem is null && !HasRealMap(image.SystemMap))
            Skip = $"{image.SystemMap} is missing or Debian's placeholder: run {LinuxGuestImage.BuildCommand} without --no-system-map";
    }

    public static bool HasRealMap(string path) => File.Exists(path) && new FileInfo(path).Length > 4096;
}

/// <summary>
/// The replay debugger on the shared Linux recording (<see cref="LinuxSession"/>), named by the
/// kernel's System.map: <c>break start_kernel</c> stops where the map says, <c>info symbol</c>
/// names the place, and the session moves backwards from there (the map moved by the kernel's
/// KASLR offset, as <c>--symbols-offset</c> does). The recording's snapshots let the
/// session start shortly before the kernel proper instead of replaying the 2.3 billion
/// instructions of the decompressor.
/// </summary>
[Collection(LinuxSessionCollection.Name)]
public sealed class LinuxDebugTests(LinuxSession session, ITestOutputHelper output)
{
    private const uint PagingEnabled = 0x8000_0000;

    [RequiresSystemMapFact]
    public void Break_start_kernel_from_the_system_map_stops_there_and_reverse_execution_works()
    {
        session.RequireImage();
        var map = SymbolFile.Load(session.Image.SystemMap, out string? warning);
        Assert.Null(warning);
        var replay = ReplaySession.Open(session.RecordingPath);

        // Debian's kernel relocates itself at boot (KASLR; the choice is a function of the machine
        // and, in virtual time, reproducible): the interrupt table's divide-error gate says how far.
        replay.Goto(replay.EndPosition);
        var found = KernelRelocation.Find(replay, map, out string? why);
        Assert.True(found is not null, why);
        uint offset = found.Value.Offset;
        output.WriteLine($"the kernel runs 0x{offset:x} above its System.map (found by {found.Value.Handler})");
        Assert.Equal("asm_exc_divide_error", found.Value.Handler);
        Assert.True(map.TryGetAddress("asm_exc_divide_error", out uint divideError));
        string kaslr = new ScriptedDebugger(replay, map).Do("info kaslr").Trim();
        Assert.Equal($"the interrupt table's divide-error gate points to {divideError + offset:X8}, asm_exc_divide_error is at {divideError:X8} in the symbols: the kernel runs 0x{offset:x} above them; open the recording again with --symbols-offset 0x{offset:x} (or boot with nokaslr)", kaslr);
        var symbols = map.WithOffset(offset);
        Assert.True(symbols.TryGetAddress("start_kernel", out uint startKernel));
        Assert.True(symbols.TryGetAddress("i386_start_kernel", out uint i386Start));
        Assert.True(map.TryGetAddress("start_kernel", out uint linked));
        Assert.Equal(linked + offset, startKernel);
        var debugger = new ScriptedDebugger(replay, symbols);
        Assert.Contains("the symbols match the running kernel", debugger.Do("info kaslr"));

        // The last recorded snapshot still in the decompressor (paging off; the kernel turns it on
        // in startup_32, long before start_kernel). Paging goes on once and stays: a bisection.
        var snapshots = replay.Events.OfType<SnapshotStateEvent>().Select(e => e.Position).ToList();
        Assert.True(snapshots.Count > 10, $"{snapshots.Count} snapshots in the recording");
        int lo = 0, hi = snapshots.Count - 1;
        Assert.Equal(0u, PagingAt(replay, snapshots[lo]));
        Assert.NotEqual(0u, PagingAt(replay, snapshots[hi]));
        while (hi - lo > 1)
        {
            int mid = (lo + hi) / 2;
            if (PagingAt(replay, snapshots[mid]) == 0) lo = mid;
            else hi = mid;
        }
        debugger.Do($"goto {snapshots[lo]}");

        string hit = debugger.Do("break start_kernel") + debugger.Do("continue");
        output.WriteLine(hit);
        Assert.Equal(startKernel, replay.CurrentLinearEip);
        ulong at = replay.Position;
        Assert.True(at - snapshots[lo] <= 2 * LinuxSession.SnapshotInterval, $"start_kernel at {at}, {at - snapshots[lo]} after the snapshot");
        Assert.True(at < session.MarkerPosition, "start_kernel before the initramfs's marker");
        Assert.Contains($"breakpoint at {startKernel:X8}", hit);
        Assert.Contains("<start_kernel>", hit);
        Assert.Equal($"{startKernel:X8} is start_kernel", debugger.Do("info symbol $pc").Trim());
        Assert.Equal($"{startKernel + 4:X8} is start_kernel+0x4", debugger.Do($"info symbol 0x{startKernel + 4:x}").Trim());

        // One instruction back is i386_start_kernel's call; forwards again is start_kernel.
        debugger.Do("reverse-stepi");
        Assert.Equal(at - 1, replay.Position);
        Assert.Equal("i386_start_kernel", symbols.Describe(replay.CurrentLinearEip)!.Split('+')[0]);
        Assert.True(replay.CurrentLinearEip - i386Start < 0x1000);
        debugger.Do("stepi");
        Assert.Equal(startKernel, replay.CurrentLinearEip);

        // A million instructions into the kernel, reverse-continue comes back to the breakpoint.
        debugger.Do("stepi 1000000");
        Assert.Equal(at + 1_000_000, replay.Position);
        string back = debugger.Do("reverse-continue");
        output.WriteLine(back);
        Assert.Equal(at, replay.Position);
        Assert.Equal(startKernel, replay.CurrentLinearEip);

        // The gdb stub serves the same: gdb loads the map the stub writes out, moved by the offset.
        using var rig = new GdbTestRig(session.RecordingPath, session.Image.SystemMap, offset);
        var t = new GdbTranscript(rig.Gdb(
            $"monitor goto {snapshots[lo]}", "maint flush register-cache",
            "break start_kernel", GdbTranscript.Mark("hit"), "continue", "monitor when", "info symbol $pc",
            GdbTranscript.Mark("back"), "reverse-stepi", "info symbol $pc", GdbTranscript.Mark("end")));
        output.WriteLine(t.Text);
        Assert.Contains($"Breakpoint 1 at 0x{startKernel:x}", t.Text);
        Assert.Equal(at, t.Position("hit"));
        Assert.Contains("start_kernel in section .text", t.Section("hit"));
        Assert.Contains("i386_start_kernel + ", t.Section("back"));
    }

    private static uint PagingAt(ReplaySession replay, ulong position)
    {
        replay.Goto(position);
        Assert.Equal(position, replay.Position);
        return replay.Cpu.Cr0 & PagingEnabled;
    }
}
