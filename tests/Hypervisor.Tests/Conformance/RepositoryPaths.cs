namespace VmFt.Hypervisor.Tests.Conformance;

/// <summary>Finds data that lives beside the repository rather than in it.</summary>
internal static class RepositoryPaths
{
    /// <summary>The folder holding VmFt.sln, found by walking up from the test assembly.</summary>
    public static string Root
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "VmFt.sln"))) return dir.FullName;
            throw new InvalidOperationException($"no VmFt.sln above {AppContext.BaseDirectory}");
        }
    }

    /// <summary>
    /// <c>../shared/conformance/286-real</c> next to the repository; a worktree kept one level deeper
    /// finds it further up, so the nearest ancestor that has it wins.
    /// </summary>
    public static string Real286Vectors
    {
        get
        {
            string first = Path.GetFullPath(Path.Combine(Root, "..", "shared", "conformance", "286-real"));
            for (var dir = new DirectoryInfo(Root).Parent; dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "shared", "conformance", "286-real");
                if (Directory.Exists(candidate)) return candidate;
            }
            return first;
        }
    }
}
