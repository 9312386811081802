using System.IO.Compression;
using System.Text;
using VmFt.Hypervisor.Conformance;

namespace VmFt.Fuzz.Targets;

/// <summary>
/// A conformance vector file: <see cref="SingleStepReader.Read(Stream, string)"/>, and each vector
/// it accepts run by <see cref="SingleStepRunner"/> (which trusts what the reader let through).
/// Input that is not gzip already is compressed first, so mutations reach the JSON.
/// </summary>
public sealed class ConformanceTarget : FuzzTarget
{
    private const int MaxVectorsRun = 8;
    private readonly SingleStepRunner _runner = new();

    public override string Name => "conformance";

    public override string Description => "conformance vectors (gzip'd JSON lines): SingleStepReader, then SingleStepRunner on each vector";

    public override void Run(ReadOnlySpan<byte> input)
    {
        byte[] gzip = input.Length >= 2 && input[0] == 0x1F && input[1] == 0x8B ? input.ToArray() : Compress(input);
        int run = 0;
        foreach (var test in SingleStepReader.Read(new MemoryStream(gzip), "fuzz.json.gz"))
            if (run++ < MaxVectorsRun) _runner.Run(test);
    }

    private static byte[] Compress(ReadOnlySpan<byte> text)
    {
        using var output = new MemoryStream();
        using (var gz = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(text);
        return output.ToArray();
    }

    public override bool IsContract(Exception e) => e is ConformanceInputException;

    private const string Nop =
        """{"name":"nop","bytes":[144,244],"initial":{"regs":{"ax":1,"bx":2,"cx":3,"dx":4,"cs":4096,"ss":8192,"ds":0,"es":0,"sp":256,"bp":0,"si":0,"di":0,"ip":0,"flags":2},"ram":[[65536,144],[65537,244]]},"final":{"regs":{"ip":2},"ram":[]},"hash":"x"}""";

    private const string Push =
        """{"name":"push ax","bytes":[80,244],"initial":{"regs":{"ax":4660,"bx":0,"cx":0,"dx":0,"cs":4096,"ss":8192,"ds":0,"es":0,"sp":256,"bp":0,"si":0,"di":0,"ip":0,"flags":2},"ram":[[65536,80],[65537,244]]},"final":{"regs":{"ip":2,"sp":254},"ram":[[131326,52],[131327,18]]},"hash":"y"}""";

    private const string DivideByZero =
        """{"name":"div bl","bytes":[246,243,244],"initial":{"regs":{"ax":10,"bx":0,"cx":0,"dx":0,"cs":4096,"ss":8192,"ds":0,"es":0,"sp":256,"bp":0,"si":0,"di":0,"ip":0,"flags":2},"ram":[[65536,246],[65537,243],[65538,244],[0,0],[1,4],[2,0],[3,16]]},"final":{"regs":{"ip":1024},"ram":[]},"exception":{"number":0,"flag_address":131322},"hash":"z"}""";

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        yield return ("nop.jsonl", Encoding.UTF8.GetBytes(Nop + "\n"));
        yield return ("push-and-div.jsonl", Encoding.UTF8.GetBytes(Push + "\n\n" + DivideByZero + "\n"));
        yield return ("nop.jsonl.gz", Compress(Encoding.UTF8.GetBytes(Nop + "\n" + Push + "\n")));
    }
}
