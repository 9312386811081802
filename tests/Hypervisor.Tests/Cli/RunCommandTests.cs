using Xunit;

namespace VmFt.Hypervisor.Tests.Cli;

public class RunCommandTests
{
    [Fact]
    public void Hello_runs_and_the_process_exits_with_the_guest_status()
    {
        var (exit, stdout, _) = VmftProcess.Run("", "run", "hello", "--clock", "virtual");
        Assert.Equal(1, exit);
        Assert.Contains("Hello from the VmFt guest!", stdout);
    }

    [Fact]
    public void Kvstore_answers_on_stdio()
    {
        var (exit, stdout, _) = VmftProcess.Run("c9 1 PUT k v\nc9 2 GET k\nSHUTDOWN\n", "run", "kvstore");
        Assert.Equal(1, exit);
        Assert.Contains("c9 1 OK", stdout);
        Assert.Contains("c9 2 VALUE v", stdout);
    }

    [Fact]
    public void Trace_port_prints_each_write_in_hex()
    {
        var (exit, _, stderr) = VmftProcess.Run("", "run", "hello", "--clock", "virtual", "--trace-port", "0xF4");
        Assert.Equal(1, exit);
        Assert.Contains("port 0x00F4 <- 0x00", stderr);
    }

    [Fact]
    public void Instruction_limit_stops_the_run_with_its_own_code()
    {
        var (exit, _, stderr) = VmftProcess.Run("", "run", "cpubench", "--clock", "virtual", "--max-instructions", "100000");
        Assert.Equal(10, exit);
        Assert.Contains("instruction limit", stderr);
    }

    [Theory]
    [InlineData("no-such-image", "no such file")]
    [InlineData("--mem 12Q hello", "--mem: '12Q' is not a size")]
    [InlineData("--mem 512K hello", "--mem: 512K is too small")]
    [InlineData("--clock sundial hello", "--clock: 'sundial' is not a clock mode")]
    [InlineData("--serial carrier-pigeon hello", "--serial: 'carrier-pigeon' is not a serial backend")]
    [InlineData("--serial tcp:127.0.0.1:port,wait hello", "--serial: 'tcp:127.0.0.1:port,wait' is not tcp:HOST:PORT[,wait]")]
    [InlineData("--serial tcp:127.0.0.1:4000,nowait hello", "--serial: 'tcp:127.0.0.1:4000,nowait' is not tcp:HOST:PORT[,wait]")]
    [InlineData("--trace-port 0xZZ hello", "--trace-port: '0xZZ' is not a port number")]
    public void Bad_input_is_one_line_and_exit_code_2(string args, string expected)
    {
        var (exit, stdout, stderr) = VmftProcess.Run("", ["run", .. args.Split(' ')]);
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(expected, line);
    }

    [Fact]
    public void A_file_that_is_not_an_image_is_refused_with_its_name()
    {
        string path = Path.Combine(Path.GetTempPath(), $"vmft-not-an-image-{Environment.ProcessId}.bin");
        File.WriteAllBytes(path, new byte[9000]);
        try
        {
            var (exit, _, stderr) = VmftProcess.Run("", "run", path);
            Assert.Equal(2, exit);
            string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Contains(path, line);
            Assert.Contains("Multiboot", line);
        }
        finally
        {
            File.Delete(path);
        }
    }
}

public class SimulateCommandTests
{
    [Fact]
    public void Simulate_explores_schedules_and_reports_no_violation()
    {
        var (exit, stdout, _) = VmftProcess.Run("", "simulate", "--runs", "150", "--seed", "1000");
        Assert.Equal(0, exit);
        Assert.Contains("150 runs", stdout);
        Assert.Contains(", 0 violations", stdout);
    }

    [Fact]
    public void An_unknown_scenario_is_bad_input()
    {
        var (exit, _, stderr) = VmftProcess.Run("", "simulate", "--scenario", "meteor");
        Assert.Equal(2, exit);
        Assert.Contains("--scenario: 'meteor' is not a scenario", stderr);
    }
}
