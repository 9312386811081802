using System.Text;
using VmFt.Hypervisor.Debugging.Gdb;
using Xunit;

namespace VmFt.Hypervisor.Tests.Debugging.Gdb;

/// <summary>The packet envelope and the byte-stream decoder, without sockets or a session.</summary>
public class GdbPacketLayerTests
{
    private static List<GdbInbound> Decode(params string[] chunks)
    {
        var decoder = new GdbPacketDecoder(64);
        var items = new List<GdbInbound>();
        foreach (var chunk in chunks) decoder.Feed(Encoding.Latin1.GetBytes(chunk), items);
        return items;
    }

    [Theory]
    [InlineData("", 0x00)]
    [InlineData("g", 0x67)]
    [InlineData("OK", 0x9a)]
    [InlineData("qSupported", 0x37)] // sum of the ASCII codes: 0x437 mod 256
    public void The_checksum_is_the_byte_sum_modulo_256(string payload, int expected)
    {
        int sum = 0;
        foreach (char c in payload) sum += c;
        Assert.Equal(sum & 0xFF, expected);
        Assert.Equal((byte)expected, GdbFraming.Checksum(Encoding.ASCII.GetBytes(payload)));
    }

    [Fact]
    public void A_frame_is_dollar_payload_hash_and_two_lower_case_hex_digits()
    {
        Assert.Equal("$OK#9a", Encoding.ASCII.GetString(GdbFraming.Frame("OK")));
        Assert.Equal("$#00", Encoding.ASCII.GetString(GdbFraming.Frame("")));
    }

    [Fact]
    public void Escaping_covers_the_four_special_bytes_and_round_trips_every_byte()
    {
        Assert.Equal("}\u0003}\u0004}]}\u000aa"u8.ToArray(), GdbFraming.EscapeBinary("#$}*a"u8));
        var all = new byte[256];
        for (int i = 0; i < 256; i++) all[i] = (byte)i;
        byte[] escaped = GdbFraming.EscapeBinary(all);
        Assert.DoesNotContain((byte)'#', escaped);
        Assert.DoesNotContain((byte)'$', escaped);
        Assert.DoesNotContain((byte)'*', escaped);
        Assert.Equal(all, GdbFraming.UnescapeBinary(escaped));
        Assert.Null(GdbFraming.UnescapeBinary("ab}"u8));
    }

    [Fact]
    public void Packets_split_across_reads_are_put_back_together()
    {
        var items = Decode("+$qSup", "ported:swbreak+#", "8", "b$g#67");
        Assert.Equal(3, items.Count);
        Assert.Equal(GdbInboundKind.Ack, items[0].Kind);
        Assert.Equal(GdbInboundKind.Packet, items[1].Kind);
        Assert.Equal("qSupported:swbreak+", items[1].Text);
        Assert.Equal("g", items[2].Text);
    }

    [Fact]
    public void A_bad_checksum_is_reported_and_the_next_packet_still_decodes()
    {
        var items = Decode("$g#68", "$g#6z", "$g#67");
        Assert.Equal([GdbInboundKind.BadChecksum, GdbInboundKind.BadChecksum, GdbInboundKind.Packet], items.Select(i => i.Kind));
    }

    [Fact]
    public void The_interrupt_byte_nacks_and_noise_outside_packets()
    {
        var items = Decode("junk\u0003-", "$?#3f");
        Assert.Equal([GdbInboundKind.Interrupt, GdbInboundKind.Nack, GdbInboundKind.Packet], items.Select(i => i.Kind));
        Assert.Equal("?", items[2].Text);
    }

    [Fact]
    public void Run_length_encoding_expands_but_an_escaped_star_stays_data()
    {
        // "0* " = '0' then ' ' (32) - 29 = 3 more zeros.
        string rle = "m0* ";
        string frame = $"${rle}#{GdbFraming.Checksum(Encoding.ASCII.GetBytes(rle)):x2}";
        Assert.Equal("m0000", Decode(frame).Single().Text);
        string escaped = "X}\u000a";
        frame = $"${escaped}#{GdbFraming.Checksum(Encoding.Latin1.GetBytes(escaped)):x2}";
        Assert.Equal(escaped, Decode(frame).Single().Text);
    }

    [Fact]
    public void An_oversized_packet_is_reported_without_being_kept()
    {
        string big = new('a', 100);
        string frame = $"${big}#{GdbFraming.Checksum(Encoding.ASCII.GetBytes(big)):x2}";
        var items = Decode(frame, "$g#67");
        Assert.Equal([GdbInboundKind.Oversized, GdbInboundKind.Packet], items.Select(i => i.Kind));
        Assert.Empty(items[0].Payload);
    }

    [Fact]
    public void Hex_numbers_and_byte_strings_reject_what_is_not_hex()
    {
        Assert.True(GdbHex.TryParseNumber("1aF", out ulong v));
        Assert.Equal(0x1AFUL, v);
        Assert.False(GdbHex.TryParseNumber("", out _));
        Assert.False(GdbHex.TryParseNumber("12g", out _));
        Assert.False(GdbHex.TryParseNumber("12345678901234567", out _));
        Assert.Null(GdbHex.Decode("abc"));
        Assert.Null(GdbHex.Decode("zz"));
        Assert.Equal([0x01, 0xAB], GdbHex.Decode("01ab"));
        Assert.Equal("78563412", GdbHex.EncodeLittleEndian32(0x12345678));
    }

    [Fact]
    public void The_target_description_names_every_register_gdb_requires_of_i386_core()
    {
        string xml = GdbTargetDescription.Xml;
        Assert.Contains("<feature name=\"org.gnu.gdb.i386.core\">", xml);
        string[] required = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags", "cs", "ss", "ds", "es", "fs", "gs",
            "st0", "st1", "st2", "st3", "st4", "st5", "st6", "st7", "fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"];
        foreach (var name in required) Assert.Contains($"<reg name=\"{name}\"", xml);
        Assert.Equal(16 * 4 + 8 * 10 + 8 * 4, GdbTargetDescription.TotalSize);
        System.Xml.Linq.XDocument.Parse(xml, System.Xml.Linq.LoadOptions.None); // well-formed (the DTD is not fetched)
    }
}
