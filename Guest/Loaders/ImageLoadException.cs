namespace VmFt.Guest.Loaders;

/// <summary>
/// An image a loader cannot use. The message is one line: the image, the file offset and field
/// at fault (when there is one), and why.
/// </summary>
public sealed class ImageLoadException : Exception
{
    public string Image { get; }
    /// <summary>Offset in the file of the field at fault, or null when the problem is the whole file.</summary>
    public long? Offset { get; }
    public string Field { get; }
    public string Reason { get; }

    public ImageLoadException(string image, long? offset, string field, string reason)
        : base(Format(image, offset, field, reason))
    {
        Image = image;
        Offset = offset;
        Field = field;
        Reason = reason;
    }

    private static string Format(string image, long? offset, string field, string reason) =>
        offset is { } o ? $"{image}: offset 0x{o:X} ({field}): {reason}" : $"{image}: {field}: {reason}";
}
