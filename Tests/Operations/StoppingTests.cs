using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Leases.Configuration;
using Orleans.Leases.Tests.Infrastructure;
using Xunit.Abstractions;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Operations;

/// <summary>A silo asked to stop stops within a stated time, whatever storage does meanwhile.</summary>
public sealed class StoppingTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_silo_whose_storage_hangs_stops_within_its_shutdown_timeout_and_grace()
    {
        using var storage = new StorageRelay();
        var ports = SiloProcess.FreePorts(2);
        var cluster = $"stop-{Guid.NewGuid():N}";
        await using var silo = SiloProcess.Start(new Dictionary<string, string>
        {
            ["Cluster__ClusterId"] = cluster,
            ["Leases__StorageConnectionString"] = storage.ConnectionString,
            ["Silo__SiloPort"] = ports[0].ToString(),
            ["Silo__GatewayPort"] = ports[1].ToString(),
            ["Silo__DashboardPort"] = "0",
        });
        await silo.WaitUntilUpAsync(TimeSpan.FromSeconds(120));

        // Work in every state the stop must cut short: a shard with a reader (a held heartbeat, its lease grain kept
        // active), a snapshot waiting for upper, and appends whose state writes hang once storage does.
        using var host = await ClientAsync(ports[1], cluster);
        var shards = new ShardClient(host.Services.GetRequiredService<IClusterClient>());
        var shard = new ShardId($"stop-{Guid.NewGuid():N}");
        var writer = shards.Writer(shard);
        await writer.CompareAndAppendAsync([At(0, "a")], F(0), F(1));
        var reader = await shards.OpenReaderAsync(shard);
        using var giveUp = new CancellationTokenSource();
        var waiting = reader.SnapshotAsync(5, giveUp.Token);
        storage.BlackHole();
        var hanging = writer.CompareAndAppendAsync([At(1, "b")], F(1), F(2));

        var clock = Stopwatch.StartNew();
        silo.Terminate();
        var bound = new RecoverySettings().ExitDeadline;
        int code;
        try
        {
            code = await silo.WaitForExitAsync(bound + TimeSpan.FromSeconds(15));
        }
        catch (OperationCanceledException)
        {
            throw new Xunit.Sdk.XunitException($"the silo still ran {clock.Elapsed.TotalSeconds:F0} s after SIGTERM (bound {bound.TotalSeconds} s)");
        }
        output.WriteLine($"exited with {code} after {clock.Elapsed.TotalSeconds:F1} s (bound {bound.TotalSeconds} s)");
        Assert.True(clock.Elapsed < bound + TimeSpan.FromSeconds(5), $"stopped after {clock.Elapsed.TotalSeconds:F1} s");
        await giveUp.CancelAsync();
    }

    private static async Task<IHost> ClientAsync(int gatewayPort, string cluster)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, Configuration = new ConfigurationManager() });
        builder.UseOrleansClient(client => client.UseLocalhostClustering(gatewayPort, "orleans-leases", cluster));
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }
}
