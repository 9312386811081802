namespace VmFt.Hypervisor;

/// <summary>
/// Input from the user that the library cannot use: a file, an image, a recording, a value given
/// for an option. The message is one line saying what, where and why; the command line prints it
/// and exits with 2, never a stack trace. Each kind of input has its own subclass.
/// </summary>
public abstract class InputException(string message, Exception? inner = null) : Exception(message, inner);
