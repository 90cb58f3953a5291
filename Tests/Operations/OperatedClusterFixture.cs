using Azure.Data.Tables;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Leases.Tests.Infrastructure;

namespace Orleans.Leases.Tests.Operations;

/// <summary>
/// Real silo processes on Azure Table membership (Azurite), each with its dashboard and /metrics on a free loopback
/// port, and a client that finds them through the same table: the cluster as operators run it.
/// </summary>
public abstract class SiloProcessClusterFixture(int siloCount) : IAsyncLifetime
{
    /// <summary>A cluster id of its own, so stale rows of other runs in the shared table never mix in.</summary>
    public string ClusterId { get; } = $"ops-{Guid.NewGuid():N}";

    public IReadOnlyList<int> DashboardPorts { get; private set; } = [];

    public IClusterClient Client => _client!.Services.GetRequiredService<IClusterClient>();

    public ShardClient Shards => new(Client);

    public IReadOnlyList<SiloProcess> Silos => _silos;

    /// <summary>Each silo's silo-to-silo port, as in its <see cref="Orleans.Runtime.SiloAddress"/>.</summary>
    public IReadOnlyList<int> SiloPorts { get; private set; } = [];

    /// <summary>Each silo's gateway port.</summary>
    public IReadOnlyList<int> GatewayPorts { get; private set; } = [];

    private readonly List<SiloProcess> _silos = [];
    private IHost? _client;

    public async Task InitializeAsync()
    {
        var ports = SiloProcess.FreePorts(3 * siloCount);
        DashboardPorts = [.. ports.Skip(2 * siloCount)];
        SiloPorts = [.. Enumerable.Range(0, siloCount).Select(i => ports[2 * i])];
        GatewayPorts = [.. Enumerable.Range(0, siloCount).Select(i => ports[2 * i + 1])];
        for (var i = 0; i < siloCount; i++)
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

    /// <summary>A client that talks to the cluster through silo <paramref name="silo"/>'s gateway only.</summary>
    public async Task<IHost> ClientThroughAsync(int silo)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, Configuration = new ConfigurationManager() });
        builder.UseOrleansClient(client => client
            .UseStaticClustering(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, GatewayPorts[silo]))
            .Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (ClusterId, "orleans-leases")));
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    /// <summary>What the silos printed, for failure messages.</summary>
    public string Logs => string.Join("\n", _silos.Select((s, i) => $"silo {i}:\n{s.Output}{s.Errors}"));
}

/// <summary>Two silo processes for tests that only watch them.</summary>
public sealed class OperatedClusterFixture() : SiloProcessClusterFixture(2);

[CollectionDefinition(Name)]
public sealed class OperatedCluster : ICollectionFixture<OperatedClusterFixture>
{
    public const string Name = "operated cluster (silo processes)";
}
