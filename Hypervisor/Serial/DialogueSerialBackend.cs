namespace VmFt.Hypervisor.Serial;

/// <summary>
/// A serial console that is a <see cref="ShellDialogue"/>: it types each command at its prompt and
/// calls <paramref name="finished"/> once the prompt after the last one is out (a failure-free
/// reference run stops there).
/// </summary>
public sealed class DialogueSerialBackend(ShellDialogue dialogue, Action finished) : QueuedSerialBackend
{
    public ShellDialogue Dialogue => dialogue;

    public override void Write(byte value)
    {
        bool wasFinished = dialogue.Finished;
        string? line = dialogue.Take([value]);
        if (line is not null) Enqueue(System.Text.Encoding.ASCII.GetBytes(line));
        if (!wasFinished && dialogue.Finished) finished();
    }

    public override void Flush()
    {
    }
}
