using VmFt.Guest.Images;

namespace VmFt.Hypervisor.Images;

/// <summary>Finds a guest image by what the user names: a file, or one of the bundled guests.</summary>
public static class GuestImages
{
    /// <summary>The bytes of <paramref name="image"/> (a path, else a bundled guest's name) and the name it goes by.</summary>
    /// <exception cref="GuestImageException">Neither a readable file nor a bundled guest.</exception>
    public static (byte[] Bytes, string Name) Resolve(string image)
    {
        if (File.Exists(image)) return (ReadFile(image, "image"), image);
        if (BundledImages.Contains(image)) return (BundledImages.Get(image), image);
        if (Directory.Exists(image)) throw new GuestImageException($"{image}: is a directory, not an image");
        throw new GuestImageException($"{image}: no such file, and no bundled guest of that name (bundled: {string.Join(", ", BundledImages.Names)})");
    }

    /// <summary>A whole file; <paramref name="what"/> says what it is for in the message when it cannot be read.</summary>
    /// <exception cref="GuestImageException">The file cannot be read.</exception>
    public static byte[] ReadFile(string path, string what)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new GuestImageException($"{path}: cannot read {what}: {e.Message}", e);
        }
    }
}
