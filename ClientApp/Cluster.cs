using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Hosting;

namespace Orleans.Leases.ClientApp;

/// <summary>A connected cluster client, configured from appsettings.json and the environment.</summary>
internal sealed class Cluster : IAsyncDisposable
{
    private readonly IHost _host;

    private Cluster(IHost host) => _host = host;

    public IClusterClient Client => _host.Services.GetRequiredService<IClusterClient>();

    public ShardClient Shards => new(Client);

    public static IConfiguration Configuration { get; } = new ConfigurationBuilder()
        .SetBasePath(AppContext.BaseDirectory)
        .AddJsonFile("appsettings.json", optional: true)
        .AddEnvironmentVariables()
        .Build();

    public static async Task<Cluster> ConnectAsync(CancellationToken cancellation)
    {
        var gatewayPort = Configuration.GetValue("Cluster:GatewayPort", 30000);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Configuration = new ConfigurationManager(),
            DisableDefaults = true,
        });
        builder.Configuration.AddConfiguration(Configuration);
        var attempts = 0;
        builder.UseOrleansClient(client => client
            .UseLocalhostClustering(gatewayPort)
            // A few quick retries (a silo that is still starting), then a clear error rather than a long wait.
            .UseConnectionRetryFilter(async (_, token) =>
            {
                if (++attempts > 5) return false;
                await Task.Delay(TimeSpan.FromSeconds(1), token);
                return true;
            }));
        var host = builder.Build();
        try
        {
            await host.StartAsync(cancellation);
        }
        catch (Exception error)
        {
            host.Dispose();
            throw new ClusterUnreachableException($"cannot reach the cluster at gateway 127.0.0.1:{gatewayPort} " +
                                                  $"(setting Cluster:GatewayPort): {error.GetBaseException().Message}");
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
