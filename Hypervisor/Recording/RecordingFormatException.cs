namespace VmFt.Hypervisor.Recording;

/// <summary>
/// A recording that cannot be used: missing, unreadable, corrupt (the message names the byte
/// offset), foreign, cut short where a whole one is needed, or describing a machine or a log this
/// build cannot rebuild. The message names the file.
/// </summary>
public sealed class RecordingFormatException(string message, Exception? inner = null) : InputException(message, inner);
