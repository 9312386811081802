using Xunit;

namespace VmFt.Hypervisor.Tests.Cli;

public class RecordReplayCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("vmft-rec-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Record(string stdin, params string[] args)
    {
        string path = Path.Combine(_dir, $"r{Guid.NewGuid():N}.vmrec");
        var (exit, _, stderr) = VmftProcess.Run(stdin, ["record", .. args, "-o", path]);
        Assert.True(exit is 1, $"record exit {exit}: {stderr}"); // the guests exit through port 0xF4 with 0 -> status 1
        Assert.Contains("bytes written to", stderr);
        return path;
    }

    [Fact]
    public void A_recorded_session_replays_with_the_same_output()
    {
        string path = Record("c1 1 PUT k v\nc1 2 GET k\nc1 3 STATS\nSHUTDOWN\n", "kvstore");
        var (exit, stdout, stderr) = VmftProcess.Run("", "replay", path, "--show-output");
        Assert.True(exit == 0, stderr);
        Assert.Contains("c1 2 VALUE v", stdout);
        Assert.Matches(@"replay OK: \d+ instructions, state hash [0-9A-F]{16} \(\d+ checkpoints verified", stdout);
    }

    [Fact]
    public void A_virtual_time_recording_replays_to_the_same_hash_every_time()
    {
        string path = Record("", "selftest", "--clock", "virtual", "--checkpoint-interval", "200000");
        var first = VmftProcess.Run("", "replay", path);
        var second = VmftProcess.Run("", "replay", path);
        Assert.Equal(0, first.Exit);
        Assert.Equal(first.Stdout.Split('(')[0], second.Stdout.Split('(')[0]);
    }

    [Fact]
    public void A_corrupt_block_is_refused_with_its_offset()
    {
        string path = Record("c1 1 PUT k v\nSHUTDOWN\n", "kvstore");
        byte[] bytes = File.ReadAllBytes(path);
        bytes[^40] ^= 0xFF; // inside the last event block
        File.WriteAllBytes(path, bytes);
        var (exit, stdout, stderr) = VmftProcess.Run("", "replay", path);
        Assert.Equal(2, exit);
        Assert.DoesNotContain("replay OK", stdout);
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Matches(@"byte offset \d+: block checksum mismatch", line);
    }

    [Fact]
    public void A_truncated_recording_replays_what_it_holds_and_says_so()
    {
        string path = Record("", "cpubench", "--clock", "virtual", "--cmdline", "iterations=300", "--checkpoint-interval", "100000");
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 30)]);
        var (exit, stdout, stderr) = VmftProcess.Run("", "replay", path);
        Assert.Equal(3, exit);
        Assert.Contains("truncated", stderr);
        Assert.Contains("offset", stderr);
        Assert.StartsWith("replay of a truncated recording: ", stdout);
        Assert.DoesNotContain("replay OK", stdout);
    }

    [Fact]
    public void A_missing_or_foreign_file_is_one_line_and_exit_2()
    {
        var missing = VmftProcess.Run("", "replay", Path.Combine(_dir, "nope.vmrec"));
        Assert.Equal(2, missing.Exit);
        Assert.Contains("no such file", missing.Stderr);

        string foreign = Path.Combine(_dir, "foreign.vmrec");
        File.WriteAllText(foreign, "this is not a recording at all, just some text that is long enough");
        var (exit, _, stderr) = VmftProcess.Run("", "replay", foreign);
        Assert.Equal(2, exit);
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("byte offset 0", line);
    }

    [Fact]
    public void A_run_resumes_where_a_recording_stopped_at_a_text()
    {
        string path = Path.Combine(_dir, $"r{Guid.NewGuid():N}.vmrec");
        var rec = VmftProcess.Run("", "record", "kvstore", "--clock", "virtual", "--until-output", "kvstore ready", "-o", path);
        Assert.True(rec.Exit == 0, rec.Stderr);
        Assert.Contains("kvstore ready", rec.Stdout);
        Assert.Equal(0, VmftProcess.Run("", "replay", path).Exit);

        // The banner was printed before the recording ended, so the resumed run starts after it.
        var first = VmftProcess.Run("c1 1 PUT k v\nc1 2 GET k\nSHUTDOWN\n", "run", "--from-recording", path, "--clock", "virtual");
        Assert.True(first.Exit == 1, first.Stderr);
        Assert.DoesNotContain("kvstore ready", first.Stdout);
        Assert.Contains("c1 1 OK", first.Stdout);
        Assert.Contains("c1 2 VALUE v", first.Stdout);
        var second = VmftProcess.Run("c1 1 PUT k v\nc1 2 GET k\nSHUTDOWN\n", "run", "--from-recording", path, "--clock", "virtual");
        Assert.Equal(first.Stdout, second.Stdout);
    }

    [Fact]
    public void Resuming_from_a_bad_recording_or_with_an_image_is_one_line_and_exit_2()
    {
        string junk = Path.Combine(_dir, "junk.vmrec");
        File.WriteAllText(junk, "not a recording");
        foreach (var args in new[]
        {
            new[] { "run", "--from-recording", junk },
            ["run", "--from-recording", Path.Combine(_dir, "missing.vmrec")],
            ["run", "kvstore", "--from-recording", junk],
            ["record", "kvstore", "--until-output", "", "-o", Path.Combine(_dir, "x.vmrec")],
        })
        {
            var (exit, _, stderr) = VmftProcess.Run("", args);
            Assert.True(exit == 2, $"{string.Join(' ', args)}: exit {exit}: {stderr}");
            Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
    }
}
