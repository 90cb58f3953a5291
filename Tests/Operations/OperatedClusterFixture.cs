using Azure.Data.Tables;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Leases.Tests.Infrastructure;

namespace Orleans.Leases.Tests.Operations;

/// <summary>
/// Two real silo processes on Azure Table membership (Azurite), each with its dashboard and /metrics on a free
/// loopback port, and a client that finds them through the same table: the cluster as operators run it.
/// </summary>
public sealed class OperatedClusterFixture : IAsyncLifetime
{
    /// <summary>A cluster id of its own, so stale rows of other runs in the shared table never mix in.</summary>
    public string ClusterId { get; } = $"ops-{Guid.NewGuid():N}";

    public IReadOnlyList<int> DashboardPorts { get; private set; } = [];

    public IClusterClient Client => _client!.Services.GetRequiredService<IClusterClient>();

    public ShardClient Shards => new(Client);

    private readonly List<SiloProcess> _silos = [];
    private IHost? _client;

    public async Task InitializeAsync()
    {
        var ports = SiloProcess.FreePorts(6);
        DashboardPorts = [ports[4], ports[5]];
        for (var i = 0; i < 2; i++)
        {
            _silos.Add(SiloProcess.Start(new Dictionary<string, string>
            {
                ["Cluster__Clustering"] = "AzureTable",
                ["Cluster__ClusterId"] = ClusterId,
                ["Cluster__ConnectionString"] = ClusterFixture.ConnectionString,
                ["Leases__StorageConnectionString"] = ClusterFixture.ConnectionString,
                ["Silo__SiloPort"] = ports[2 * i].ToString(),
                ["Silo__GatewayPort"] = ports[2 * i + 1].ToString(),
                ["Silo__DashboardPort"] = DashboardPorts[i].ToString(),
            }));
        }
        await Task.WhenAll(_silos.Select(s => s.WaitUntilUpAsync(TimeSpan.FromSeconds(120))));

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, Configuration = new ConfigurationManager() });
        builder.UseOrleansClient(client => client
            .UseAzureStorageClustering(o => o.TableServiceClient = new TableServiceClient(ClusterFixture.ConnectionString))
            .Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (ClusterId, "orleans-leases")));
        _client = builder.Build();
        await _client.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (_client is not null)
        {
            await _client.StopAsync();
            _client.Dispose();
        }
        await Task.WhenAll(_silos.Select(s => s.DisposeAsync().AsTask()));
    }

    /// <summary>What the silos printed, for failure messages.</summary>
    public string Logs => string.Join("\n", _silos.Select((s, i) => $"silo {i}:\n{s.Output}{s.Errors}"));
}

[CollectionDefinition(Name)]
public sealed class OperatedCluster : ICollectionFixture<OperatedClusterFixture>
{
    public const string Name = "operated cluster (silo processes)";
}
