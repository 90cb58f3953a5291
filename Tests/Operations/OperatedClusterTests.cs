using System.Diagnostics;
using System.Text.Json;
using Orleans.Leases.Tests.Infrastructure;
using Orleans.Runtime;
using Xunit.Abstractions;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Operations;

/// <summary>What an operator sees of two silo processes: one cluster, the dashboard with the service's grains, and
/// the service's meter on /metrics.</summary>
[Collection(OperatedCluster.Name)]
public sealed class OperatedClusterTests(OperatedClusterFixture fixture, ITestOutputHelper output)
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>How long the cluster may take to show what a test made happen (process boundaries: no barrier to wait on).</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(45);

    [Fact]
    public async Task Two_silos_on_azure_table_membership_form_one_cluster()
    {
        var management = fixture.Client.GetGrain<IManagementGrain>(0);
        var active = await EventuallyAsync(async () => (await management.GetHosts(onlyActive: true)).Count, n => n == 2);
        Assert.Equal(2, active);
        var counted = await EventuallyAsync(async () => (await DashboardCountersAsync(fixture.DashboardPorts[1])).GetProperty("totalActiveHostCount").GetInt32(), n => n == 2);
        Assert.Equal(2, counted);
    }

    [Fact]
    public async Task The_dashboard_page_shows_the_service_grains()
    {
        await UseTheServiceAsync("dashboard");
        var port = fixture.DashboardPorts[0];

        using var page = await Http.GetAsync($"http://127.0.0.1:{port}/");
        Assert.Equal(System.Net.HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("index.min.js", await page.Content.ReadAsStringAsync());

        // The page's own data: grain types with their activations, cluster-wide.
        string[] wanted = ["Orleans.Leases.Shards.ShardGrain", "Orleans.Leases.Readers.ReaderLeaseGrain"];
        var types = await EventuallyAsync(async () => GrainTypes(await DashboardCountersAsync(port)), t => wanted.All(t.Contains));
        Assert.Superset(wanted.ToHashSet(), types.ToHashSet());

        BrowseWithChromiumIfInstalled(port, wanted);
    }

    [Fact]
    public async Task The_metrics_endpoint_exports_the_service_meter_and_orleans_meter()
    {
        await UseTheServiceAsync("metrics");

        // The service's grains live on either silo; each silo exports its own.
        var scrape = string.Join("\n", await Task.WhenAll(fixture.DashboardPorts.Select(p => Http.GetStringAsync($"http://127.0.0.1:{p}/metrics"))));
        var lines = scrape.Split('\n');
        Assert.Contains(lines, l => l.StartsWith("leases_shard_commands_total{"));
        Assert.Contains(lines, l => l.StartsWith("leases_") && l.Contains("otel_scope_name=\"Orleans.Leases\""));
        Assert.Contains(lines, l => l.StartsWith("orleans_") && l.Contains("otel_scope_name=\"Microsoft.Orleans\""));
        Assert.Contains(lines, l => l.StartsWith("leases_append_duration_seconds_bucket{")); // durations in seconds
    }

    [Fact]
    public async Task Every_silo_answers_healthz_with_storage_and_a_shard_answering()
    {
        foreach (var port in fixture.DashboardPorts)
        {
            using var reply = await Http.GetAsync($"http://127.0.0.1:{port}/healthz");
            Assert.Equal(System.Net.HttpStatusCode.OK, reply.StatusCode);
            Assert.Equal("Healthy", await reply.Content.ReadAsStringAsync());
        }
    }

    /// <summary>An append and a leased read, so that shard, part worker and lease grains are active.</summary>
    private async Task UseTheServiceAsync(string name)
    {
        var shard = ClusterFixture.NewShard(name);
        await fixture.Shards.Writer(shard).CompareAndAppendAsync([At(0, "a")], F(0), F(1));
        await using var reader = await fixture.Shards.OpenReaderAsync(shard);
        var leased = await reader.SnapshotAsync(0);
        Assert.Single(await reader.ReadAsync(leased));
    }

    /// <summary>Where Debian's chromium is installed: the dashboard's grains page as a browser renders it lists the
    /// service's grains, and its screenshot is a real picture.</summary>
    private void BrowseWithChromiumIfInstalled(int port, string[] grainTypes)
    {
        var chromium = new[] { "chromium", "chromium-browser" }
            .SelectMany(name => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(dir => Path.Combine(dir, name)))
            .FirstOrDefault(File.Exists);
        if (chromium is null)
        {
            output.WriteLine("chromium is not on PATH: the headless browser part did not run.");
            return;
        }
        var page = $"http://127.0.0.1:{port}/#/grains";
        string[] browser = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,900", "--virtual-time-budget=8000"];

        var (code, dom) = Run(chromium, [.. browser, "--dump-dom", page]);
        Assert.True(code == 0, $"chromium exited {code}:\n{dom}");
        foreach (var type in grainTypes) Assert.Contains(type, dom);

        var png = Path.Combine(Path.GetTempPath(), $"dashboard-grains-{Guid.NewGuid():N}.png");
        (code, var log) = Run(chromium, [.. browser, $"--screenshot={png}", page]);
        Assert.True(code == 0 && File.Exists(png), $"chromium exited {code}:\n{log}");
        var bytes = File.ReadAllBytes(png);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
        Assert.True(bytes.Length > 20_000, $"a {bytes.Length}-byte screenshot is too small for the rendered dashboard");
        output.WriteLine($"dashboard grains page: {png} ({bytes.Length} bytes)");
    }

    /// <summary>Runs <paramref name="program"/>, answering its exit code and what it printed (stdout first).</summary>
    private static (int Code, string Log) Run(string program, string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(program, arguments)
            { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(90))) process.Kill(entireProcessTree: true);
        process.WaitForExit();
        return (process.ExitCode, stdout.Result + "\n" + stderr.Result);
    }

    private static async Task<JsonElement> DashboardCountersAsync(int port) =>
        JsonDocument.Parse(await Http.GetStringAsync($"http://127.0.0.1:{port}/DashboardCounters")).RootElement;

    private static string[] GrainTypes(JsonElement counters) =>
        counters.GetProperty("simpleGrainStats").EnumerateArray().Select(s => s.GetProperty("grainType").GetString()!).Distinct().ToArray();

    /// <summary>Reads until <paramref name="done"/> holds or <see cref="Patience"/> runs out; answers the last reading.</summary>
    private static async Task<T> EventuallyAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var value = await read();
            if (done(value) || DateTime.UtcNow > deadline) return value;
            await Task.Delay(250);
        }
    }
}
