using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Orleans.Leases;

namespace Orleans.Hosting;

/// <summary>Registers <see cref="ShardClient"/> for the application's code, beside the Orleans client (or in a silo,
/// for grains that read and write shards).</summary>
public static class LeasesClientBuilderExtensions
{
    /// <summary>Adds <see cref="ShardClient"/> as a singleton over the host's <see cref="IGrainFactory"/>.</summary>
    public static IServiceCollection AddOrleansLeasesClient(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(sp => new ShardClient(sp.GetRequiredService<IGrainFactory>()));
        return services;
    }

    /// <summary>Adds <see cref="ShardClient"/> to an Orleans client.</summary>
    public static IClientBuilder AddOrleansLeasesClient(this IClientBuilder client)
    {
        ArgumentNullException.ThrowIfNull(client);
        client.Services.AddOrleansLeasesClient();
        return client;
    }
}
