using System.Text;

namespace VmFt.Hypervisor.Serial;

/// <summary>
/// A person at a shell prompt, as a script: once the guest has printed <see cref="Marker"/>, each
/// command is typed at the next prompt (output that ends with <see cref="Prompt"/>), one command per
/// prompt. Busybox's shell on a serial console ends its prompt <c>"# "</c> with the cursor-position
/// query <c>ESC [ 6 n</c> (<see cref="BusyboxPrompt"/>); typing before the query is out could put the
/// echo between the two.
/// Typing only at a prompt makes the transcript independent of timing: the echo of a command
/// never interleaves with the output of the one before, so a run in virtual time, a run in real time
/// and a run under FT through a failover all print the same bytes after the marker.
/// Not thread-safe: feed it from one reader.
/// </summary>
/// <param name="marker">What the guest prints before the dialogue begins; null: it has begun (a guest resumed past its marker).</param>
public sealed class ShellDialogue(string? marker, IReadOnlyList<string> commands, string prompt = ShellDialogue.BusyboxPrompt)
{
    /// <summary>The root prompt of busybox's ash with line editing, as it reaches a serial console.</summary>
    public const string BusyboxPrompt = "# \u001b[6n";
    private readonly StringBuilder _output = new();
    private int _markerEnd = marker is null ? 0 : -1;
    private int _next;
    private int _searchFrom;

    public string? Marker => marker;

    public string Prompt => prompt;

    public IReadOnlyList<string> Commands => commands;

    /// <summary>Commands typed so far.</summary>
    public int Typed => _next;

    /// <summary>True once the marker was seen.</summary>
    public bool Started => _markerEnd >= 0;

    /// <summary>True once every command was typed and the prompt after the last one printed.</summary>
    public bool Finished { get; private set; }

    /// <summary>Everything the guest printed.</summary>
    public string Output => _output.ToString();

    /// <summary>What the guest printed after the marker: the part of a transcript that does not depend on timing.</summary>
    public string AfterMarker => _markerEnd < 0 ? "" : _output.ToString(_markerEnd, _output.Length - _markerEnd);

    /// <summary>
    /// Takes output bytes as they arrive; returns the line to type now (with its newline), or null.
    /// </summary>
    public string? Take(ReadOnlySpan<byte> data)
    {
        foreach (byte b in data) _output.Append((char)b);
        if (_markerEnd < 0 && marker is not null)
        {
            int at = IndexOf(marker, Math.Max(0, _output.Length - data.Length - marker.Length));
            if (at < 0) return null;
            _markerEnd = _searchFrom = at + marker.Length;
        }
        if (Finished || !AtPrompt()) return null;
        if (_next == commands.Count)
        {
            Finished = true;
            return null;
        }
        _searchFrom = _output.Length;
        return commands[_next++] + "\n";
    }

    private bool AtPrompt() => EndsWith(prompt);

    private bool EndsWith(string s)
    {
        int start = _output.Length - s.Length;
        if (start < _searchFrom) return false;
        for (int i = 0; i < s.Length; i++)
            if (_output[start + i] != s[i]) return false;
        return true;
    }

    private int IndexOf(string s, int from)
    {
        for (int i = from; i + s.Length <= _output.Length; i++)
        {
            int j = 0;
            while (j < s.Length && _output[i + j] == s[j]) j++;
            if (j == s.Length) return i;
        }
        return -1;
    }
}
