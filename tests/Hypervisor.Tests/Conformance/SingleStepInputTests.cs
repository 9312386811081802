using System.IO.Compression;
using System.Text;
using VmFt.Hypervisor.Cli;
using VmFt.Hypervisor.Conformance;
using Xunit;

namespace VmFt.Hypervisor.Tests.Conformance;

public sealed class SingleStepInputTests : IDisposable
{
    private const string GoodLine =
        """{"name":"nop","bytes":[144,244],"initial":{"regs":{"ax":1,"bx":2,"cx":3,"dx":4,"cs":4096,"ss":8192,"ds":0,"es":0,"sp":256,"bp":0,"si":0,"di":0,"ip":0,"flags":2},"ram":[[65536,144],[65537,244]]},"final":{"regs":{"ip":2},"ram":[]},"hash":"x"}""";

    private readonly string _dir = Directory.CreateTempSubdirectory("vmft-conformance-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string WriteGz(string name, string content)
    {
        string path = Path.Combine(_dir, name);
        using var gz = new GZipStream(File.Create(path), CompressionLevel.Fastest);
        gz.Write(Encoding.UTF8.GetBytes(content));
        return path;
    }

    [Fact]
    public void ReaderParsesRegistersRamAndLineNumbers()
    {
        string path = WriteGz("90.jsonl.gz", GoodLine + "\n" + GoodLine.Replace("\"ip\":2", "\"ip\":2,\"ax\":7") + "\n");
        var tests = SingleStepReader.Read(path).ToList();
        Assert.Equal(2, tests.Count);
        Assert.Equal([(byte)0x90, (byte)0xF4], tests[0].Bytes);
        Assert.Equal(4096, tests[0].Initial(RealModeRegister.Cs));
        Assert.Equal(2, tests[0].Final(RealModeRegister.Ip));
        Assert.Equal(1, tests[0].Final(RealModeRegister.Ax));  // unchanged registers keep their initial value
        Assert.Equal(7, tests[1].Final(RealModeRegister.Ax));
        Assert.Equal(2, tests[1].Line);
        Assert.Equal((65537u, (byte)244), tests[0].InitialRam[1]);
    }

    [Fact]
    public void BadJsonNamesFileAndLine()
    {
        string path = WriteGz("01.jsonl.gz", GoodLine + "\n{\"name\": oops\n");
        var e = Assert.Throws<ConformanceInputException>(() => SingleStepReader.Read(path).ToList());
        Assert.Contains("01.jsonl.gz", e.Message);
        Assert.Contains("line 2", e.Message);
    }

    [Fact]
    public void MissingRegisterIsBadInput()
    {
        string path = WriteGz("02.jsonl.gz", GoodLine.Replace("\"bx\":2,", ""));
        var e = Assert.Throws<ConformanceInputException>(() => SingleStepReader.Read(path).ToList());
        Assert.Contains("line 1", e.Message);
        Assert.Contains("bx", e.Message);
    }

    [Theory]
    // Found by the conformance fuzz target: the runner indexed its RAM with the address and threw IndexOutOfRangeException.
    [InlineData("[65536,144]", "[65522236,144]", "RAM address 0x3E7CA3C")]
    // Below 16 MiB it did not crash, but the runner clears only 0x110000 bytes between vectors.
    [InlineData("[65536,144]", "[1114112,144]", "RAM address 0x110000")]
    public void RamBeyondRealModesReachIsBadInput(string from, string to, string expected)
    {
        string path = WriteGz("04.jsonl.gz", GoodLine.Replace(from, to));
        var e = Assert.Throws<ConformanceInputException>(() => SingleStepReader.Read(path).ToList());
        Assert.Contains("line 1", e.Message);
        Assert.Contains($"{expected} lies beyond what real mode reaches (below 0x110000)", e.Message);
    }

    [Fact]
    public void AVectorWithoutInstructionBytesIsBadInput()
    {
        // Found by the conformance fuzz target: the rules' decoder read the first opcode byte of
        // an empty array and threw IndexOutOfRangeException.
        string path = WriteGz("05.jsonl.gz", GoodLine.Replace("\"bytes\":[144,244]", "\"bytes\":[]"));
        var e = Assert.Throws<ConformanceInputException>(() => SingleStepReader.Read(path).ToList());
        Assert.Contains("line 1", e.Message);
        Assert.Contains("the instruction's \"bytes\" are empty", e.Message);
    }

    [Fact]
    public void ALineLongerThanAnyVectorIsBadInputNotReadWhole()
    {
        // A few KiB of gzip inflate to one line of many MiB: the reader refuses it at the bound
        // instead of holding it all, and says which line.
        string path = WriteGz("06.jsonl.gz", GoodLine + "\r\n" + new string(' ', 3 * SingleStepReader.MaxLineChars) + "\n");
        Assert.True(new FileInfo(path).Length < 64 * 1024);
        var read = new List<SingleStepTest>();
        var e = Assert.Throws<ConformanceInputException>(() => { foreach (var t in SingleStepReader.Read(path)) read.Add(t); });
        Assert.Single(read);  // the CRLF-ended first line is still a vector
        Assert.Contains("06.jsonl.gz: line 2: longer than 1,048,576 characters", e.Message);
    }

    [Fact]
    public void BadGzipIsBadInput()
    {
        string path = Path.Combine(_dir, "03.jsonl.gz");
        File.WriteAllText(path, "this is not gzip at all, just text\n");
        var e = Assert.Throws<ConformanceInputException>(() => SingleStepReader.Read(path).ToList());
        Assert.Contains("03.jsonl.gz", e.Message);
    }

    [Fact]
    public void CommandExitsTwoWithOneLineOnMissingDirectory()
    {
        var (rc, stdout, stderr) = RunCli("conformance", "singlestep", Path.Combine(_dir, "nowhere"));
        Assert.Equal(VmftCommand.BadInput, rc);
        Assert.Equal("", stdout);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.Contains("nowhere", stderr);
    }

    [Fact]
    public void CommandExitsTwoOnBadJsonNamingFileAndLine()
    {
        WriteGz("04.jsonl.gz", GoodLine + "\n" + GoodLine + "\nnot json\n");
        var (rc, _, stderr) = RunCli("conformance", "singlestep", _dir);
        Assert.Equal(VmftCommand.BadInput, rc);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.Contains("04.jsonl.gz: line 3", stderr);
    }

    [Fact]
    public void CommandPrintsPerFileCountsAndTotalLine()
    {
        WriteGz("90.jsonl.gz", GoodLine + "\n");
        // 8C /4 (MOV r/m,FS) is #UD on the 286 and valid on a 386+: masked, never compared.
        WriteGz("8C.jsonl.gz", GoodLine.Replace("[144,244]", "[140,224,244]") + "\n");
        var (rc, stdout, _) = RunCli("conformance", "singlestep", _dir);
        Assert.Equal(0, rc);
        var lines = stdout.Trim().Split('\n');
        Assert.Equal(3, lines.Length);
        Assert.Matches(@"^8C\s+0 passed\s+0 failed\s+1 masked$", lines[0].TrimEnd());
        Assert.StartsWith("90 ", lines[1]);
        Assert.Matches(@"^\d+ passed, \d+ failed$", lines[2].TrimEnd());
    }

    private static (int, string, string) RunCli(params string[] args)
    {
        var oldOut = Console.Out;
        var oldErr = Console.Error;
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Console.SetOut(stdout);
        Console.SetError(stderr);
        try
        {
            int rc = VmftCommand.Run(args);
            return (rc, stdout.ToString(), stderr.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }
}
