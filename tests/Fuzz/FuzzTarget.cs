namespace VmFt.Fuzz;

/// <summary>
/// One parser of outside input, driven over its public entry point. <see cref="Run"/> may throw the
/// exceptions the parser documents for bad input (<see cref="IsContract"/>); any other exception,
/// or a broken <see cref="InvariantException"/> check, is a bug in the parser.
/// </summary>
public abstract class FuzzTarget
{
    public abstract string Name { get; }

    /// <summary>What is parsed, for the command's listing.</summary>
    public abstract string Description { get; }

    public abstract void Run(ReadOnlySpan<byte> input);

    /// <summary>True for the exceptions that are the parser's documented answer to bad input.</summary>
    public abstract bool IsContract(Exception e);

    /// <summary>Small valid inputs, made by the project's own writers: the seed corpus.</summary>
    public abstract IEnumerable<(string Name, byte[] Data)> Seeds();

    /// <summary>Runs one input; null when it ended well or with a contract exception, else the exception.</summary>
    public Exception? Check(ReadOnlySpan<byte> input)
    {
        try
        {
            Run(input);
            return null;
        }
        catch (Exception e) when (IsContract(e))
        {
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }
}

/// <summary>A parser accepted an input but what it produced breaks a property the harness checks.</summary>
public sealed class InvariantException(string message) : Exception(message);
