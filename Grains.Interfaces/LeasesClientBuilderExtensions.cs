using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Leases;

namespace Orleans.Hosting;

/// <summary>Registers <see cref="ShardClient"/> for the application's code, beside the Orleans client (or in a silo,
/// for grains that read and write shards).</summary>
public static class LeasesClientBuilderExtensions
{
    /// <summary>Adds <see cref="ShardClient"/> as a singleton over the host's <see cref="IGrainFactory"/>, retrying
    /// by <see cref="RetryPolicy.Default"/> unless <see cref="ShardClientOptions"/> are configured.</summary>
    public static IServiceCollection AddOrleansLeasesClient(this IServiceCollection services) =>
        services.AddOrleansLeasesClient(_ => { });

    /// <summary>Adds <see cref="ShardClient"/>, retrying as <paramref name="configure"/> sets.</summary>
    public static IServiceCollection AddOrleansLeasesClient(this IServiceCollection services, Action<ShardClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<ShardClientOptions>().Configure(configure);
        services.TryAddSingleton(sp =>
        {
            var retry = sp.GetRequiredService<IOptions<ShardClientOptions>>().Value.Retry;
            return new ShardClient(sp.GetRequiredService<IGrainFactory>(), retry);
        });
        return services;
    }

    /// <summary>Adds <see cref="ShardClient"/> to an Orleans client.</summary>
    public static IClientBuilder AddOrleansLeasesClient(this IClientBuilder client) => client.AddOrleansLeasesClient(_ => { });

    /// <summary>Adds <see cref="ShardClient"/> to an Orleans client, retrying as <paramref name="configure"/> sets.</summary>
    public static IClientBuilder AddOrleansLeasesClient(this IClientBuilder client, Action<ShardClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(client);
        client.Services.AddOrleansLeasesClient(configure);
        return client;
    }
}
