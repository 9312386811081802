namespace VmFt.Hypervisor.Debugging.Terminal;

public sealed partial class DebugInterpreter
{
    private void When(string[] args)
    {
        NoArguments(args, "when");
        _out.WriteLine($"position {_session.Position} (the recording ends at {_session.EndPosition})");
    }

    private void GotoCommand(string[] args)
    {
        if (args.Length != 1) throw new CommandException("goto: expects one position (a number, +N, -N, start or end)");
        string a = args[0];
        ulong now = _session.Position;
        ulong target = a switch
        {
            "start" => 0,
            "end" => _session.EndPosition,
            _ when a.StartsWith('+') => now + ParsePosition(a[1..], "goto"),
            _ when a.StartsWith('-') => now - Math.Min(now, ParsePosition(a[1..], "goto")),
            _ => ParsePosition(a, "goto"),
        };
        Move(ct => _session.Goto(target, ct));
    }

    /// <summary>A motion that takes no count (continue, reverse-continue).</summary>
    private void Once(string[] args, string command, Func<CancellationToken, StopInfo> motion)
    {
        NoArguments(args, command);
        Move(motion);
    }

    /// <summary>A motion done N times; a stop for any reason but reaching the step ends the series early.</summary>
    private void Repeat(string[] args, string command, Func<CancellationToken, StopInfo> motion)
    {
        int count = ParseCount(args, 0, command);
        Move(ct =>
        {
            StopInfo stop = default;
            for (int i = 0; i < count; i++)
            {
                if (ct.IsCancellationRequested) return new StopInfo(StopReason.Interrupted, _session.Position);
                stop = motion(ct);
                if (stop.Reason != StopReason.Reached) break;
                // As in gdb, a series of steps ends early on a breakpoint it arrives at.
                if (i + 1 < count && _session.Breakpoints.Contains(_session.CurrentLinearEip))
                    return new StopInfo(StopReason.Breakpoint, _session.Position, _session.CurrentLinearEip);
                if (i + 1 < count && _session.PositionBreakpoints.Contains(_session.Position))
                    return new StopInfo(StopReason.PositionBreakpoint, _session.Position);
            }
            return stop;
        });
    }

    /// <summary>Runs a motion that Ctrl-C can cancel, then says where it stopped.</summary>
    private void Move(Func<CancellationToken, StopInfo> motion)
    {
        var cts = new CancellationTokenSource();
        lock (_motionLock) _motion = cts;
        StopInfo stop;
        try
        {
            stop = motion(cts.Token);
        }
        catch (OperationCanceledException)
        {
            stop = new StopInfo(StopReason.Interrupted, _session.Position);
        }
        finally
        {
            lock (_motionLock) _motion = null;
            cts.Dispose();
        }
        ShowStop(stop);
    }

    private void ShowStop(StopInfo stop)
    {
        string detail = stop.Reason switch
        {
            StopReason.Breakpoint => DescribeBreakpointHit(stop.Address),
            StopReason.Watchpoint => DescribeWatchpointHit(stop),
            StopReason.PositionBreakpoint => NumberOfPositionBreakpoint(stop.Position) is int n ? $" [breakpoint {n}]" : "",
            _ => "",
        };
        _out.WriteLine(stop + detail);
        ShowLocation();
    }

    /// <summary>The next instruction: <c>=> 00100364 &lt;kmain+0x4&gt;: mov ebp,esp</c>.</summary>
    private void ShowLocation()
    {
        uint pc = CurrentLinearPc();
        string instruction = _code.DecodeOne(pc, out _) ?? "(cannot read memory)";
        string halted = _session.Cpu.Halted ? "   (halted)" : "";
        _out.WriteLine($"=> {AddressText(pc)}: {instruction}{halted}");
    }
}
