using System.Runtime.InteropServices;

namespace VmFt.Hypervisor.FaultTolerance.Processes;

/// <summary>Stopping and continuing a process from outside (Linux signal numbers): how a fault injector freezes a node.</summary>
public static class UnixSignals
{
    private const int SigInt = 2, SigCont = 18, SigStop = 19;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    /// <summary>SIGSTOP: the process stands still until continued. False when it is gone.</summary>
    public static bool Stop(int pid) => SendSignal(pid, SigStop) == 0;

    /// <summary>SIGINT, as Ctrl-C: a program that catches it ends in order (tcpdump writes its counts and closes its capture).</summary>
    public static bool Interrupt(int pid) => SendSignal(pid, SigInt) == 0;

    /// <summary>SIGCONT.</summary>
    public static bool Continue(int pid) => SendSignal(pid, SigCont) == 0;
}
