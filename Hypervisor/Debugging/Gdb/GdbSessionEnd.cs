namespace VmFt.Hypervisor.Debugging.Gdb;

/// <summary>How gdb left: still attached, detached (the server may take another gdb) or killed (the server stops).</summary>
public enum GdbSessionEnd
{
    None,
    Detached,
    Killed,
}
