using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Orleans.Hosting;
using Orleans.Leases.Hosting;

namespace Orleans.Leases.ClientApp;

/// <summary>A silo hosted in the bench's own process, on the configured storage: its meter, CPU and memory are this
/// process's.</summary>
internal static class InProcessSilo
{
    /// <summary>Runs <paramref name="work"/> against a silo started in this process (its services given), then stops it.</summary>
    public static async Task<int> RunAsync(bool json, CancellationToken cancellation, Func<IServiceProvider, Task<int>> work)
    {
        using var host = await StartAsync(json, cancellation);
        try
        {
            return await work(host.Services);
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
    }

    private static async Task<IHost> StartAsync(bool json, CancellationToken cancellation)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, Configuration = new ConfigurationManager() });
        builder.Configuration.AddConfiguration(Cluster.Configuration);
        builder.UseOrleans(silo => silo
            .UseLocalhostClustering(FreePort(), FreePort())
            .AddOrleansLeases());
        var host = builder.Build();
        Output.Progress(json, "starting a silo in this process...");
        try
        {
            await host.StartAsync(cancellation);
            return host;
        }
        catch (Exception error) when (error is not OperationCanceledException)
        {
            host.Dispose();
            throw new ClusterUnreachableException($"the in-process silo did not start (setting Leases:StorageConnectionString): {error.GetBaseException().Message}");
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
