using VmFt.Guest.Images;
using VmFt.Guest.Processor;

namespace VmFt.Guest.Tests.Machine;

/// <summary>Every bundled guest reaches the same state hash at every slice end under both CPU cores.</summary>
public class TranslatorGuestTests
{
    public static IEnumerable<object[]> Guests() => BundledImages.Names.Select(n => new object[] { n });

    [Theory]
    [MemberData(nameof(Guests))]
    public void Every_bundled_guest_has_the_same_state_hashes_translated_and_interpreted(string name)
    {
        string input = name == "kvstore" ? "c1 1 PUT alpha one\nc1 2 GET alpha\nc2 1 INCR n\nSHUTDOWN\n" : "";
        string cmdline = name == "cpubench" ? "iterations=100" : "";
        const ulong limit = 40_000_000;
        var interpreted = new List<ulong>();
        var translated = new List<ulong>();
        var a = BundledGuestTests.RunGuest(name, input, cmdline, limit, CpuCore.Interpreter, interpreted);
        var b = BundledGuestTests.RunGuest(name, input, cmdline, limit, CpuCore.Translator, translated);
        Assert.Equal(a.Reason, b.Reason);
        Assert.Equal(a.Status, b.Status);
        Assert.Equal(a.Serial, b.Serial);
        Assert.Equal(a.Machine.Cpu.Position, b.Machine.Cpu.Position);
        Assert.Equal(interpreted, translated);
        Assert.True(b.Machine.Cpu.Translation.BlocksTranslated > 0 || b.Machine.Cpu.Position < 1000, "nothing was translated");
    }
}
