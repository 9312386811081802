using System.Buffers.Binary;
using System.Text;
using VmFt.Hypervisor.Debugging;
using VmFt.Hypervisor.Debugging.Gdb;
using Xunit;

namespace VmFt.Hypervisor.Tests.Debugging.Gdb;

/// <summary>The stub over a real socket, driven by raw packets: malformed input, registers, interrupts, a second client.</summary>
public sealed class GdbProtocolTests(GdbRecordings recordings) : IClassFixture<GdbRecordings>
{
    [Fact]
    public void A_bad_checksum_gets_a_nack_and_noise_does_not_break_the_connection()
    {
        using var rig = new GdbTestRig(recordings, "hello");
        using var client = new RawGdbClient(rig.Connect());
        client.SendRaw("garbage before any packet");
        client.SendRaw("$g#68");
        Assert.Equal('-', client.ReadByte());
        string regs = client.Ask("g");
        Assert.Equal(GdbTargetDescription.TotalSize * 2, regs.Length);
    }

    [Theory]
    [InlineData("m zz,4", "E01")]
    [InlineData("mffffffff,10", "E01")]
    [InlineData("m100000", "E01")]
    [InlineData("m100000,ffffff", "E01")]
    [InlineData("p99", "E01")]
    [InlineData("pzz", "E01")]
    [InlineData("Pzz=00", "E01")]
    [InlineData("P0=001122", "E01")]
    [InlineData("P10=99990000", "E01")] // cs: a selector load is refused
    [InlineData("G00", "E01")]
    [InlineData("Z9,100000,1", "")]
    [InlineData("Z2,100000,0", "E01")]
    [InlineData("Z0,1ffffffff,1", "E01")]
    [InlineData("Z2,fffffff0,100", "E01")] // found by the gdb fuzz target: it was answered OK and no watchpoint set
    [InlineData("Z4,ffffffff,2", "E01")]
    [InlineData("Z0,100000", "E01")]
    [InlineData("M100000,4:zz", "E01")]
    [InlineData("M100000,4:0011", "E01")]
    [InlineData("X100000,4:a", "E01")]
    [InlineData("qRcmd,zz", "E01")]
    [InlineData("qRcmd,6e6f2d737563682d636f6d6d616e64", "E01")] // "no-such-command"
    [InlineData("qXfer:features:read:other.xml:0,10", "E00")]
    [InlineData("vMustReplyEmpty", "")]
    [InlineData("Cxx", "E01")]
    [InlineData("", "")]
    public void Malformed_or_unsupported_packets_get_an_error_or_empty_reply_and_the_connection_stays_up(string packet, string expected)
    {
        using var rig = new GdbTestRig(recordings, "hello");
        using var client = new RawGdbClient(rig.Connect());
        Assert.Equal(expected, client.Ask(packet));
        Assert.StartsWith("T05", client.Ask("?"));
        Assert.Equal("OK", client.Ask("Hg0"));
    }

    [Fact]
    public void An_oversized_packet_is_acknowledged_and_answered_with_an_error()
    {
        using var rig = new GdbTestRig(recordings, "hello");
        using var client = new RawGdbClient(rig.Connect());
        Assert.Equal("E01", client.Ask("M100000,1:" + new string('0', 2 * GdbCommandHandler.PacketSize)));
        Assert.StartsWith("T05", client.Ask("?"));
    }

    [Fact]
    public void Registers_and_memory_match_the_session_at_the_start_and_the_target_description_reads_in_pieces()
    {
        using var rig = new GdbTestRig(recordings, "hello");
        using var client = new RawGdbClient(rig.Connect());
        string supported = client.Ask("qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386");
        foreach (var feature in (string[])["qXfer:features:read+", "ReverseStep+", "ReverseContinue+", "swbreak+", "hwbreak+", "QStartNoAckMode+"])
            Assert.Contains(feature, supported.Split(';'));

        var xml = new StringBuilder();
        while (true)
        {
            string part = client.Ask($"qXfer:features:read:target.xml:{xml.Length:x},100");
            Assert.True(part[0] is 'm' or 'l', part);
            xml.Append(part[1..]);
            if (part[0] == 'l') break;
        }
        Assert.Equal(GdbTargetDescription.Xml, xml.ToString()); // the XML holds none of the escaped bytes

        var session = ReplaySession.Open(rig.Recording);
        byte[] g = GdbHex.Decode(client.Ask("g"))!;
        uint[] expected = [session.Cpu.Eax, session.Cpu.Ecx, session.Cpu.Edx, session.Cpu.Ebx, session.Cpu.Esp, session.Cpu.Ebp, session.Cpu.Esi, session.Cpu.Edi, session.Cpu.Eip, session.Cpu.Eflags];
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], BinaryPrimitives.ReadUInt32LittleEndian(g.AsSpan(4 * i)));
        Assert.Equal(session.Cpu.GetSelector(Guest.Processor.SegmentRegister.CS), BinaryPrimitives.ReadUInt32LittleEndian(g.AsSpan(40)));
        Assert.Equal(GdbHex.EncodeLittleEndian32(session.Cpu.Eip), client.Ask("p8"));

        var code = new byte[16];
        Assert.True(session.ReadMemory(session.Cpu.Eip, code));
        Assert.Equal(GdbHex.Encode(code), client.Ask($"m{session.Cpu.Eip:x},10"));

        // No-ack mode: after OK, packets go without '+'.
        Assert.Equal("OK", client.Ask("QStartNoAckMode"));
        client.Send("p4");
        Assert.Equal(GdbHex.EncodeLittleEndian32(session.Cpu.Esp), client.Receive());
    }

    [Fact]
    public void Writing_a_register_changes_the_session_and_the_next_read_shows_it()
    {
        using var rig = new GdbTestRig(recordings, "hello");
        using var client = new RawGdbClient(rig.Connect());
        Assert.Equal("OK", client.Ask("P0=efbeadde"));
        Assert.Equal("efbeadde", client.Ask("p0"));
        string g = client.Ask("g");
        Assert.Equal("OK", client.Ask("G" + g)); // unchanged selectors are accepted, and the x87 registers as they are
        Assert.StartsWith("efbeadde", client.Ask("g"));
    }

    [Fact]
    public void The_x87_registers_read_as_the_cpu_holds_them_and_gdb_shows_them_with_info_float()
    {
        using var rig = new GdbTestRig(recordings, "floats");
        using var client = new RawGdbClient(rig.Connect());
        const ulong Position = 3_000_000; // inside the workload's sums: a full x87 stack
        Assert.Equal("OK", client.Ask("qRcmd," + GdbHex.Encode($"goto {Position}")));
        var session = ReplaySession.Open(rig.Recording);
        session.Goto(Position);
        var cpu = session.Cpu;
        var st = new byte[10];
        for (int i = 0; i < 8; i++)
        {
            cpu.GetFpuStack(i).WriteTo(st);
            Assert.Equal(GdbHex.Encode(st), client.Ask($"p{GdbTargetDescription.FirstSt + i:x}"));
        }
        uint[] control = [cpu.FpuControlWord, cpu.FpuStatusWord, cpu.FpuTagWord, cpu.FpuInstructionPointer.Selector,
            cpu.FpuInstructionPointer.Offset, cpu.FpuDataPointer.Selector, cpu.FpuDataPointer.Offset, cpu.FpuOpcode];
        for (int i = 0; i < control.Length; i++)
            Assert.Equal(GdbHex.EncodeLittleEndian32(control[i]), client.Ask($"p{GdbTargetDescription.FirstFpControl + i:x}"));
        Assert.NotEqual(0xFFFFu, control[2]); // something is on the stack there
        // A write goes through: fctrl with a different rounding control.
        ushort cw = (ushort)(cpu.FpuControlWord ^ 0x0C00);
        Assert.Equal("OK", client.Ask($"P{GdbTargetDescription.FirstFpControl:x}=" + GdbHex.EncodeLittleEndian32(cw)));
        Assert.Equal(GdbHex.EncodeLittleEndian32(cw), client.Ask($"p{GdbTargetDescription.FirstFpControl:x}"));
    }

    [Fact]
    public void Gdb_info_float_shows_the_x87_of_a_recording()
    {
        using var rig = new GdbTestRig(recordings, "floats");
        const ulong Position = 3_000_000;
        string text = rig.Gdb($"monitor goto {Position}", "info float");
        Assert.Contains("Status Word:", text);
        Assert.Contains("Control Word:", text);
        Assert.Contains("Tag Word:", text);
        Assert.Contains("Opcode:", text);
        Assert.Matches(@"=>R\d: Valid +0x[0-9a-f]{4}[0-9a-f]{16}", text);
    }

    [Fact]
    public void The_interrupt_byte_stops_a_continue_with_signal_2()
    {
        using var rig = new GdbTestRig(recordings, "hello");
        using var client = new RawGdbClient(rig.Connect());
        // The interrupt follows the continue at once: whichever the stub sees first, the motion is cut short.
        client.SendRaw(Encoding.Latin1.GetString(GdbFraming.Frame("c")) + "\u0003");
        Assert.Equal('+', client.ReadByte());
        string stop = client.Receive();
        Assert.StartsWith("T02", stop);
        Assert.StartsWith("T02", client.Ask("?"));
    }

    [Fact]
    public void Monitor_snapshot_after_a_register_write_is_refused_with_the_reason()
    {
        // Found by the gdb fuzz target: the session's InvalidOperationException came out as a stub failure (E16).
        using var rig = new GdbTestRig(recordings, "hello");
        using var client = new RawGdbClient(rig.Connect());
        Assert.Equal("OK", client.Ask("P0=efbeadde"));
        Assert.Equal("E01", client.Ask("qRcmd," + GdbHex.Encode("snapshot")));
        Assert.Contains(client.ConsoleText, t => t.StartsWith("snapshot: the state was changed by hand", StringComparison.Ordinal));
        Assert.DoesNotContain(client.ConsoleText, t => t.Contains("replay stub"));
    }

    [Fact]
    public void Monitor_when_reports_the_position_and_goto_moves_there()
    {
        using var rig = new GdbTestRig(recordings, "hello");
        using var client = new RawGdbClient(rig.Connect());
        Assert.Equal("OK", client.Ask("qRcmd," + GdbHex.Encode("goto 100")));
        Assert.Contains("position 100 of", string.Concat(client.ConsoleText));
        client.ConsoleText.Clear();
        Assert.Equal("OK", client.Ask("qRcmd," + GdbHex.Encode("when")));
        Assert.Contains("position 100 of", string.Concat(client.ConsoleText));
        var session = ReplaySession.Open(rig.Recording);
        session.Goto(100);
        Assert.Equal(GdbHex.EncodeLittleEndian32(session.Cpu.Eip), client.Ask("p8"));
        Assert.Equal("OK", client.Ask("qRcmd," + GdbHex.Encode("help")));
        Assert.Equal("OK", client.Ask("qRcmd," + GdbHex.Encode("events")));
        Assert.Equal("OK", client.Ask("qRcmd," + GdbHex.Encode("snapshot")));
        Assert.Contains(client.ConsoleText, t => t.Contains("snapshot taken at position 100"));
    }

    [Fact]
    public void A_second_gdb_is_refused_while_one_is_attached_and_accepted_after_it_detaches()
    {
        using var rig = new GdbTestRig(recordings, "hello");
        using var first = new RawGdbClient(rig.Connect());
        Assert.Equal("OK", first.Ask("qRcmd," + GdbHex.Encode("goto 50")));

        string refused = rig.Gdb("monitor when");
        Assert.Contains("another gdb is already attached", refused);
        Assert.DoesNotContain("position 50", refused);

        first.ConsoleText.Clear();
        Assert.Equal("OK", first.Ask("qRcmd," + GdbHex.Encode("when")));
        Assert.Contains("position 50 of", string.Concat(first.ConsoleText)); // undisturbed
        Assert.Equal("OK", first.Ask("D"));

        string accepted = rig.Gdb("monitor when");
        Assert.Contains("position 50 of", accepted);
    }

    [Fact]
    public void Unmapped_memory_answers_E14_and_a_read_across_into_it_returns_the_mapped_part()
    {
        using var rig = new GdbTestRig(recordings, "selftest");
        var session = ReplaySession.Open(rig.Recording);
        session.Goto(session.EndPosition); // paging is on by the end of the self test
        Assert.True(session.Cpu.PagingEnabled);
        uint? unmapped = null;
        for (uint page = 0x0010_0000; page < 0xFFFF_0000u; page += 0x1000)
            if (session.Cpu.TryTranslateQuietly(page - 0x1000, out _) && !session.Cpu.TryTranslateQuietly(page, out _)) { unmapped = page; break; }
        Assert.NotNull(unmapped);

        using var client = new RawGdbClient(rig.Connect());
        Assert.Equal("OK", client.Ask("qRcmd," + GdbHex.Encode($"goto {session.EndPosition}")));
        Assert.Equal("E14", client.Ask($"m{unmapped:x},4"));
        var tail = new byte[8];
        Assert.True(session.ReadMemory(unmapped!.Value - 8, tail));
        Assert.Equal(GdbHex.Encode(tail), client.Ask($"m{unmapped - 8:x},10"));
        Assert.Equal("E14", client.Ask($"M{unmapped:x},1:00"));
    }

    [Fact]
    public void Stepping_both_ways_and_a_hardware_breakpoint_give_the_right_stop_replies()
    {
        using var rig = new GdbTestRig(recordings, "hello");
        var session = ReplaySession.Open(rig.Recording);
        session.Goto(40);
        uint target = session.Cpu.Eip;

        using var client = new RawGdbClient(rig.Connect());
        Assert.Contains("replaylog:begin;", client.Ask("bs")); // nothing before position 0
        string step = client.Ask("vCont;s:1");
        Assert.StartsWith("T05", step);
        session.Goto(1);
        Assert.Contains($"08:{GdbHex.EncodeLittleEndian32(session.Cpu.Eip)};", step);

        Assert.Equal("OK", client.Ask($"Z1,{target:x},1"));
        string hit = client.Ask("c");
        Assert.Contains("hwbreak:;", hit);
        Assert.Contains($"08:{GdbHex.EncodeLittleEndian32(target)};", hit);
        Assert.Equal("OK", client.Ask($"z1,{target:x},1"));
        Assert.Equal("OK", client.Ask($"Z0,{target:x},1"));
        Assert.Contains("replaylog:begin;", client.Ask("bc")); // the hit we stand on is not behind us
        Assert.Contains("swbreak:;", client.Ask("c"));
        Assert.Equal("OK", client.Ask($"z0,{target:x},1"));
        Assert.Contains("replaylog:end;", client.Ask("c"));
        client.ConsoleText.Clear();
        Assert.Equal("OK", client.Ask("qRcmd," + GdbHex.Encode("when")));
        Assert.Contains($"position {session.EndPosition} of {session.EndPosition}", string.Concat(client.ConsoleText));
    }

    [Fact]
    public void After_a_dropped_connection_the_next_client_is_served_and_kill_ends_the_server()
    {
        using var rig = new GdbTestRig(recordings, "hello");
        using (var dropped = new RawGdbClient(rig.Connect()))
        {
            Assert.Equal("OK", dropped.Ask($"Z0,{0x100360:x},1"));
            Assert.StartsWith("T05", dropped.Ask("?"));
        } // closed without detaching

        using var next = new RawGdbClient(rig.Connect());
        Assert.StartsWith("T05", next.Ask("?"));
        Assert.Contains("replaylog:end;", next.Ask("c")); // the dropped client's breakpoint is gone
        Assert.Null(rig.WaitForExit(TimeSpan.FromMilliseconds(200)));
        next.Send("k");
        Assert.Equal('+', next.ReadByte());
        Assert.Equal(0, rig.WaitForExit(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public void A_bad_endpoint_or_recording_is_one_line_and_exit_2()
    {
        string recording = recordings.Get("hello");
        foreach (var (path, endpoint) in new[] { (recording, "127.0.0.1:99999"), (recording, "nonsense"), (Path.Combine(recordings.Directory, "missing.vmrec"), "127.0.0.1:0") })
        {
            var output = new StringWriter();
            var error = new StringWriter();
            Assert.Equal(2, Hypervisor.Cli.GdbServeCommand.Serve(path, endpoint, output: output, error: error));
            Assert.Single(error.ToString().TrimEnd().Split('\n'));
            Assert.Equal("", output.ToString());
        }
    }
}
