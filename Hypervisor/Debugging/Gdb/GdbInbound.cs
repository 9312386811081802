namespace VmFt.Hypervisor.Debugging.Gdb;

/// <summary>One item decoded from gdb's byte stream; <see cref="Payload"/> is the run-length-expanded packet body (escapes kept).</summary>
public readonly record struct GdbInbound(GdbInboundKind Kind, byte[] Payload)
{
    public string Text => System.Text.Encoding.Latin1.GetString(Payload);
}
