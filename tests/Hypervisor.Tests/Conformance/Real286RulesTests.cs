using VmFt.Hypervisor.Conformance;
using Xunit;

namespace VmFt.Hypervisor.Tests.Conformance;

public sealed class Real286RulesTests
{
    private static SingleStepTest Vector(byte[] bytes, ushort cx = 0)
    {
        var regs = new ushort[SingleStepTest.RegisterCount];
        regs[(int)RealModeRegister.Cx] = cx;
        return new SingleStepTest
        {
            Name = "t", Line = 1, Bytes = bytes, InitialRegisters = regs, FinalRegisters = regs,
            InitialRam = [], FinalRam = [],
        };
    }

    [Fact]
    public void AddComparesEveryArithmeticFlag() =>
        Assert.Equal(Real286Rules.FlagsHighNibble, Real286Rules.For(Vector([0x01, 0xC0, 0xF4])).IgnoredFlags);

    [Fact]
    public void DivIgnoresAllSixArithmeticFlags()
    {
        var rules = Real286Rules.For(Vector([0x2E, 0xF7, 0x30, 0xF4])); // cs: div word [bx+si]
        Assert.Equal(0x8D5 | Real286Rules.FlagsHighNibble, rules.IgnoredFlags);
    }

    [Theory]
    [InlineData(1, Real286Rules.AF)]                                    // count 1: only AF undefined
    [InlineData(2, Real286Rules.OF | Real286Rules.AF)]                  // OF only defined for 1
    [InlineData(8, Real286Rules.OF | Real286Rules.AF | Real286Rules.CF)] // count >= width: CF undefined for SHL
    [InlineData(32, 0)]                                                 // masked to 0: no flag touched
    public void ShlByClFollowsCount(int cl, int undefined) =>
        Assert.Equal(undefined | Real286Rules.FlagsHighNibble, Real286Rules.For(Vector([0xD2, 0xE0, 0xF4], (ushort)cl)).IgnoredFlags);

    [Fact]
    public void SarKeepsCfDefinedForLargeCounts() =>
        Assert.Equal(Real286Rules.OF | Real286Rules.AF | Real286Rules.FlagsHighNibble,
            Real286Rules.For(Vector([0xC0, 0xF8, 0x09, 0xF4])).IgnoredFlags);

    [Fact]
    public void MovFromFsIsExcludedButReg6IsCompared()
    {
        Assert.True(Real286Rules.For(Vector([0x8C, 0xE0, 0xF4])).Excluded);
        Assert.False(Real286Rules.For(Vector([0x8C, 0xF0, 0xF4])).Excluded);
    }

    [Fact]
    public void LockIsExcludedOnlyWhereA386RaisesUd()
    {
        Assert.True(Real286Rules.For(Vector([0xF0, 0x02, 0x7A, 0x91, 0xF4])).Excluded);  // lock add bh,[bp+si-6Fh]: register destination
        Assert.True(Real286Rules.For(Vector([0xF0, 0x06, 0xF4])).Excluded);              // lock push es
        Assert.False(Real286Rules.For(Vector([0xF0, 0x01, 0x07, 0xF4])).Excluded);       // lock add [bx],ax: lockable
        Assert.True(Real286Rules.For(Vector([0xF0, 0x80, 0x3F, 0x01, 0xF4])).Excluded);  // lock cmp byte [bx],1
    }
}
