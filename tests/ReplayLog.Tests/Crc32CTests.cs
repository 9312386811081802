using System.Text;
using VmFt.ReplayLog.Format;

namespace VmFt.ReplayLog.Tests;

public class Crc32CTests
{
    [Fact]
    public void Check_value_of_the_catalogue()
    {
        // The standard check value of CRC-32C over the ASCII digits 1..9.
        byte[] digits = Encoding.ASCII.GetBytes("123456789");
        Assert.Equal(0xE3069283u, Crc32C.Compute(digits));
        Assert.Equal(0xE3069283u, Crc32C.ComputeWithTable(digits));
    }

    [Fact]
    public void Rfc3720_test_vectors()
    {
        // iSCSI (RFC 3720, appendix B.4): 32 bytes of zeros, of ones, incrementing, decrementing.
        byte[] zeros = new byte[32];
        byte[] ones = Enumerable.Repeat((byte)0xFF, 32).ToArray();
        byte[] up = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        byte[] down = Enumerable.Range(0, 32).Select(i => (byte)(31 - i)).ToArray();
        Assert.Equal(0x8A9136AAu, Crc32C.Compute(zeros));
        Assert.Equal(0x62A8AB43u, Crc32C.Compute(ones));
        Assert.Equal(0x46DD794Eu, Crc32C.Compute(up));
        Assert.Equal(0x113FDB5Cu, Crc32C.Compute(down));
    }

    [Fact]
    public void Hardware_and_table_paths_agree_at_every_length_and_alignment()
    {
        var random = new Random(3720);
        var data = new byte[300];
        random.NextBytes(data);
        for (int start = 0; start < 9; start++)
        {
            for (int length = 0; length + start <= data.Length; length++)
            {
                ReadOnlySpan<byte> span = data.AsSpan(start, length);
                Assert.Equal(Crc32C.ComputeWithTable(span), Crc32C.Compute(span));
            }
        }
    }

    [Fact]
    public void Update_continues_a_running_checksum()
    {
        byte[] data = Encoding.ASCII.GetBytes("123456789");
        uint running = Crc32C.Update(~0u, data.AsSpan(0, 4));
        running = Crc32C.Update(running, data.AsSpan(4));
        Assert.Equal(0xE3069283u, ~running);
    }
}
