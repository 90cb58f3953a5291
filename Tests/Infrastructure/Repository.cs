namespace Orleans.Leases.Tests.Infrastructure;

/// <summary>Where this test build sits in the repository.</summary>
public static class Repository
{
    private static DirectoryInfo TestBuild => new(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));

    /// <summary>The folder of Orleans.Leases.sln.</summary>
    public static string Root
    {
        get
        {
            var root = TestBuild;
            while (root is not null && !File.Exists(Path.Combine(root.FullName, "Orleans.Leases.sln"))) root = root.Parent;
            return root?.FullName ?? throw new InvalidOperationException($"no Orleans.Leases.sln above {TestBuild.FullName}");
        }
    }

    /// <summary>The configuration this build is of (Release, Debug): the folder above the target framework's.</summary>
    public static string Configuration => TestBuild.Parent!.Name;

    /// <summary>The target framework's folder name (net10.0).</summary>
    public static string TargetFramework => TestBuild.Name;
}
