using VmFt.Guest.Processor;

namespace VmFt.Hypervisor.Debugging.Terminal;

public sealed partial class DebugInterpreter
{
    private enum TrapKind { Breakpoint, PositionBreakpoint, Watchpoint }

    /// <summary>A numbered breakpoint as the user sees it; the session only knows the addresses.</summary>
    private sealed record Trap(int Number, TrapKind Kind, uint Address, uint Length, WatchKind Watch, ulong Position, string Text);

    private readonly List<Trap> _traps = [];
    private int _nextTrap = 1;

    private void Break(string[] args)
    {
        if (args.Length > 1) throw new CommandException("break: expects one address, symbol or @position");
        if (args.Length == 1 && args[0].StartsWith('@'))
        {
            ulong position = ParsePosition(args[0][1..], "break");
            if (!_session.AddPositionBreakpoint(position)) throw new CommandException($"break: there is already a breakpoint at position {position}");
            var trap = AddTrap(TrapKind.PositionBreakpoint, 0, 0, WatchKind.Write, position, args[0]);
            _out.WriteLine($"breakpoint {trap.Number} at position {position}");
            return;
        }
        uint address = args.Length == 1 ? ParseAddress(args[0], "break") : CurrentLinearPc();
        if (!_session.AddBreakpoint(address)) throw new CommandException($"break: there is already a breakpoint at {AddressText(address)}");
        var t = AddTrap(TrapKind.Breakpoint, address, 1, WatchKind.Write, 0, args.Length == 1 ? args[0] : "");
        _out.WriteLine($"breakpoint {t.Number} at {AddressText(address)}");
    }

    private void Watch(string[] args, WatchKind kind)
    {
        string command = kind switch { WatchKind.Read => "rwatch", WatchKind.Access => "awatch", _ => "watch" };
        if (args.Length is < 1 or > 2) throw new CommandException($"{command}: expects an address and an optional length");
        uint address = ParseAddress(args[0], command);
        uint length = (uint)ParseCount(args, 1, command, fallback: 4);
        if (!_session.AddWatchpoint(address, length, kind))
            throw new CommandException($"{command}: there is already such a watchpoint at {AddressText(address)}");
        var trap = AddTrap(TrapKind.Watchpoint, address, length, kind, 0, args[0]);
        _out.WriteLine($"watchpoint {trap.Number} ({KindName(kind)}) at {AddressText(address)}, {length} byte{(length == 1 ? "" : "s")}");
    }

    private Trap AddTrap(TrapKind kind, uint address, uint length, WatchKind watch, ulong position, string text)
    {
        var trap = new Trap(_nextTrap++, kind, address, length, watch, position, text);
        _traps.Add(trap);
        return trap;
    }

    private void Delete(string[] args)
    {
        if (args.Length == 0)
        {
            foreach (var t in _traps) Remove(t);
            _out.WriteLine(_traps.Count == 0 ? "no breakpoints to delete" : $"deleted {_traps.Count} breakpoint{(_traps.Count == 1 ? "" : "s")}");
            _traps.Clear();
            return;
        }
        foreach (var a in args)
        {
            if (!int.TryParse(a, out int n)) throw new CommandException($"delete: '{a}' is not a breakpoint number");
            var trap = _traps.Find(t => t.Number == n) ?? throw new CommandException($"delete: no breakpoint number {n}");
            Remove(trap);
            _traps.Remove(trap);
            _out.WriteLine($"deleted breakpoint {n}");
        }
    }

    private void Remove(Trap t)
    {
        switch (t.Kind)
        {
            case TrapKind.Breakpoint: _session.RemoveBreakpoint(t.Address); break;
            case TrapKind.PositionBreakpoint: _session.RemovePositionBreakpoint(t.Position); break;
            default: _session.RemoveWatchpoint(t.Address, t.Length, t.Watch); break;
        }
    }

    private void ListBreakpoints()
    {
        if (_traps.Count == 0)
        {
            _out.WriteLine("no breakpoints or watchpoints");
            return;
        }
        _out.WriteLine("num  type        where");
        foreach (var t in _traps)
        {
            string where = t.Kind switch
            {
                TrapKind.Breakpoint => AddressText(t.Address),
                TrapKind.PositionBreakpoint => $"position {t.Position}",
                _ => $"{AddressText(t.Address)}, {t.Length} byte{(t.Length == 1 ? "" : "s")}",
            };
            string type = t.Kind switch
            {
                TrapKind.Breakpoint => "breakpoint",
                TrapKind.PositionBreakpoint => "position",
                _ => KindName(t.Watch) + " watch",
            };
            _out.WriteLine($"{t.Number,-4} {type,-11} {where}");
        }
    }

    private static string KindName(WatchKind kind) => kind switch
    {
        WatchKind.Read => "read",
        WatchKind.Access => "access",
        _ => "write",
    };

    private string DescribeBreakpointHit(uint address)
    {
        var trap = _traps.Find(t => t.Kind == TrapKind.Breakpoint && t.Address == address);
        string? symbol = _symbols.Describe(address);
        string number = trap is null ? "" : $"breakpoint {trap.Number}";
        string where = symbol is null ? "" : symbol;
        string both = number.Length > 0 && where.Length > 0 ? $"{number}, {where}" : number + where;
        return both.Length == 0 ? "" : $" [{both}]";
    }

    /// <summary>The watchpoint's number and what the watched bytes hold now.</summary>
    private string DescribeWatchpointHit(StopInfo stop)
    {
        var trap = _traps.Find(t => t.Kind == TrapKind.Watchpoint && stop.Address >= t.Address && stop.Address - t.Address < Math.Max(t.Length, 1u))
            ?? _traps.Find(t => t.Kind == TrapKind.Watchpoint && t.Address == stop.Address);
        uint address = trap?.Address ?? stop.Address;
        int length = (int)Math.Min(trap?.Length ?? 4u, 16u);
        Span<byte> bytes = stackalloc byte[length];
        string value = !_session.ReadMemory(address, bytes) ? "value unreadable"
            : length is 1 or 2 or 4 or 8 ? $"value 0x{LittleEndian(bytes).ToString("x" + 2 * length, System.Globalization.CultureInfo.InvariantCulture)}"
            : "bytes " + Convert.ToHexString(bytes).ToLowerInvariant();
        string number = trap is null ? "" : $"watchpoint {trap.Number}, ";
        string? symbol = _symbols.Describe(address);
        return $" [{number}{(symbol is null ? "" : symbol + ", ")}{value}]";
    }

    private static ulong LittleEndian(ReadOnlySpan<byte> bytes)
    {
        ulong v = 0;
        for (int i = bytes.Length - 1; i >= 0; i--) v = v << 8 | bytes[i];
        return v;
    }

    private int? NumberOfPositionBreakpoint(ulong position) =>
        _traps.Find(t => t.Kind == TrapKind.PositionBreakpoint && t.Position == position)?.Number;
}
