using System.Diagnostics;
using Orleans.Leases.Tests.Infrastructure;
using Orleans.Leases.Tests.Operations;
using Xunit.Abstractions;

namespace Orleans.Leases.Tests.Hosting;

/// <summary>The packages as a team gets them: packed, restored from a folder feed into a project of its own
/// (Tests/Consumer: a silo that adds the service and a client that reads through it), built and run.</summary>
public sealed class PackageTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_consumer_built_against_the_packed_packages_runs_a_reader_end_to_end()
    {
        // A version of this run's own: a package cache never answers with an older build of the same version.
        var version = $"0.1.0-test.{DateTime.UtcNow:yyyyMMddHHmmssfff}";
        var root = Repository.Root;
        var feed = Path.Combine(root, "TestResults", "feed");
        var packages = Directory.CreateTempSubdirectory("leases-consumer-packages").FullName;
        var cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var consumer = Path.Combine(root, "Tests", "Consumer", "Consumer.csproj");
        try
        {
            foreach (var project in new[] { "Grains.Interfaces/Grains.Interfaces.csproj", "Grains/Grains.csproj" })
                await DotnetAsync("pack", Path.Combine(root, project), "-c", "Release", "--no-restore", "-o", feed, $"-p:Version={version}");
            Assert.True(File.Exists(Path.Combine(feed, $"Orleans.Leases.Server.{version}.nupkg")));
            Assert.True(File.Exists(Path.Combine(feed, $"Orleans.Leases.Client.{version}.nupkg")));

            // Nothing of the repository's: its projects, build settings and package versions stay out of reach.
            await DotnetAsync("restore", consumer, "--packages", packages, $"-p:RestoreFallbackFolders={cache}", $"-p:LeasesVersion={version}");
            await DotnetAsync("build", consumer, "-c", "Release", "--no-restore", $"-p:LeasesVersion={version}");

            var ports = SiloProcess.FreePorts(2);
            var program = Path.Combine(Path.GetDirectoryName(consumer)!, "bin", "Release", "net10.0", "Consumer.dll");
            var run = await DotnetAsync(program, $"{ports[0]}", $"{ports[1]}", ClusterFixture.ConnectionString);

            Assert.Contains("append Applied", run);
            Assert.Contains("read apples=3 +1", run);
            Assert.Contains("read pears=5 +1", run);
        }
        finally
        {
            Directory.Delete(packages, recursive: true);
        }
    }

    private async Task<string> DotnetAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet", arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var patience = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        await process.WaitForExitAsync(patience.Token);
        var text = await stdout + await stderr;
        output.WriteLine($"dotnet {string.Join(' ', arguments)}: exit {process.ExitCode}\n{text}");
        Assert.True(process.ExitCode == 0, $"dotnet {arguments[0]} exited {process.ExitCode}:\n{text}");
        return text;
    }
}
