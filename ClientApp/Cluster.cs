using Azure.Data.Tables;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Leases.Configuration;

namespace Orleans.Leases.ClientApp;

/// <summary>A connected cluster client, configured from appsettings.json and the environment.</summary>
internal sealed class Cluster : IAsyncDisposable
{
    private readonly IHost _host;

    private Cluster(IHost host) => _host = host;

    public IClusterClient Client => _host.Services.GetRequiredService<IClusterClient>();

    public ShardClient Shards => _host.Services.GetRequiredService<ShardClient>();

    public static IConfiguration Configuration { get; } = new ConfigurationBuilder()
        .SetBasePath(AppContext.BaseDirectory)
        .AddJsonFile("appsettings.json", optional: true)
        .AddEnvironmentVariables()
        .Build();

    /// <summary>Connects to the cluster named by the <c>Cluster</c> section, the silo's own settings.</summary>
    public static async Task<Cluster> ConnectAsync(CancellationToken cancellation)
    {
        ClusterSettings settings;
        RecoverySettings recovery;
        TableServiceClient? tables = null;
        try
        {
            settings = ClusterSettings.Read(Configuration);
            recovery = RecoverySettings.Read(Configuration);
            if (settings.Clustering == ClusteringKind.AzureTable) tables = new TableServiceClient(settings.ConnectionString);
        }
        catch (InvalidSettingException bad)
        {
            throw new ClusterUnreachableException(bad.Message);
        }
        catch (Exception malformed) when (malformed is FormatException or ArgumentException or InvalidOperationException)
        {
            throw new ClusterUnreachableException($"{ClusterSettings.Section}:ConnectionString is not a storage connection string: {malformed.Message}");
        }

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Configuration = new ConfigurationManager(),
            DisableDefaults = true,
        });
        builder.Configuration.AddConfiguration(Configuration);
        var attempts = 0;
        builder.UseOrleansClient(client =>
        {
            client.AddOrleansLeasesClient();
            recovery.ConfigureClient(client.Services);
            if (tables is null)
                client.UseLocalhostClustering([.. settings.GatewayPorts], settings.ServiceId, settings.ClusterId);
            else
                client.UseAzureStorageClustering(o => o.TableServiceClient = tables)
                    .Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (settings.ClusterId, settings.ServiceId));
            // A few quick retries (a silo that is still starting), then a clear error rather than a long wait.
            client.UseConnectionRetryFilter(async (_, token) =>
            {
                if (++attempts > 5) return false;
                await Task.Delay(TimeSpan.FromSeconds(1), token);
                return true;
            });
        });
        var host = builder.Build();
        try
        {
            await host.StartAsync(cancellation);
        }
        catch (Exception error)
        {
            host.Dispose();
            var where = tables is null
                ? $"at gateway 127.0.0.1:{string.Join(",", settings.GatewayPorts)} (setting Cluster:GatewayPort)"
                : $"{settings.ClusterId} in the membership table at {tables.Uri} (settings Cluster:ClusterId, Cluster:ConnectionString)";
            throw new ClusterUnreachableException($"cannot reach the cluster {where}: {error.GetBaseException().Message.Split('\n')[0].Trim()}");
        }
        return new Cluster(host);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}

internal sealed class ClusterUnreachableException(string message) : Exception(message);
