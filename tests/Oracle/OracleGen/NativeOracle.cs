using System.Diagnostics;
using VmFt.Guest.Tests.Oracle;

namespace VmFt.Tests.Oracle;

/// <summary>Drives the native runner: writes the inputs of a batch, reads back what the host did.</summary>
public static class NativeOracle
{
    public static void Run(string runner, IReadOnlyList<OracleVector> batch)
    {
        var psi = new ProcessStartInfo(runner) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {runner}");
        // Write on another thread: the runner answers while it reads, and both pipes are finite.
        var writer = Task.Run(() =>
        {
            using var w = new BinaryWriter(new BufferedStream(p.StandardInput.BaseStream, 1 << 16));
            foreach (var v in batch)
            {
                foreach (var r in v.Registers) w.Write(r);
                w.Write(v.Eflags);
                w.Write(v.DataSeed);
                w.Write((byte)v.Patches.Length);
                foreach (var (o, val) in v.Patches) { w.Write(o); w.Write(val); }
                w.Write((byte)v.Code.Length);
                w.Write(v.Code);
            }
        });
        using var r = new BinaryReader(new BufferedStream(p.StandardOutput.BaseStream, 1 << 16));
        foreach (var v in batch)
        {
            for (int i = 0; i < 8; i++) v.FinalRegisters[i] = r.ReadUInt32();
            v.FinalEflags = r.ReadUInt32();
            uint vector = r.ReadUInt32();
            v.Vector = vector == 0xFFFF_FFFF ? OracleVector.NoFault : (int)vector;
            v.FinalEip = r.ReadUInt32();
            var changes = new (ushort, byte)[r.ReadUInt16()];
            for (int i = 0; i < changes.Length; i++) changes[i] = (r.ReadUInt16(), r.ReadByte());
            v.Changes = changes;
        }
        writer.GetAwaiter().GetResult();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{runner} exited with {p.ExitCode}");
    }

    /// <summary>The x87 runner (build.sh OUT x87): each case also carries its initial x87 image and returns the final one.</summary>
    public static void RunX87(string runner, IReadOnlyList<X87Vector> batch)
    {
        var psi = new ProcessStartInfo(runner) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {runner}");
        var writer = Task.Run(() =>
        {
            using var w = new BinaryWriter(new BufferedStream(p.StandardInput.BaseStream, 1 << 16));
            foreach (var x in batch)
            {
                var v = x.Base;
                foreach (var r in v.Registers) w.Write(r);
                w.Write(v.Eflags);
                w.Write(v.DataSeed);
                w.Write((byte)v.Patches.Length);
                foreach (var (o, val) in v.Patches) { w.Write(o); w.Write(val); }
                w.Write(x.InitialImage);
                w.Write((byte)v.Code.Length);
                w.Write(v.Code);
            }
        });
        using var r = new BinaryReader(new BufferedStream(p.StandardOutput.BaseStream, 1 << 16));
        foreach (var x in batch)
        {
            var v = x.Base;
            for (int i = 0; i < 8; i++) v.FinalRegisters[i] = r.ReadUInt32();
            v.FinalEflags = r.ReadUInt32();
            uint vector = r.ReadUInt32();
            v.Vector = vector == 0xFFFF_FFFF ? OracleVector.NoFault : (int)vector;
            v.FinalEip = r.ReadUInt32();
            var changes = new (ushort, byte)[r.ReadUInt16()];
            for (int i = 0; i < changes.Length; i++) changes[i] = (r.ReadUInt16(), r.ReadByte());
            v.Changes = changes;
            x.FinalImage = r.ReadBytes(108);
            x.FromSignalFrame = r.ReadByte() != 0;
        }
        writer.GetAwaiter().GetResult();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{runner} exited with {p.ExitCode}");
    }
}
