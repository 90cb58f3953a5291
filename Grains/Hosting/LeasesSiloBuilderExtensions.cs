using Azure.Storage.Blobs;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Leases;
using Orleans.Leases.Hosting;
using Orleans.Leases.Parts;
using Orleans.Leases.Shards;
using Orleans.Runtime;
using Orleans.Serialization;
using Orleans.Storage;

namespace Orleans.Hosting;

/// <summary>Adds the shard service to a silo, as Orleans' own providers are added.</summary>
public static class LeasesSiloBuilderExtensions
{
    /// <summary>Hosts the shard service in this silo with the settings of the silo configuration's
    /// <c>Leases</c> section (<see cref="ShardServiceOptions.Section"/>), if it has one; defaults otherwise.</summary>
    public static ISiloBuilder AddOrleansLeases(this ISiloBuilder silo) =>
        silo.AddOrleansLeases((Action<ShardServiceOptions>)(_ => { }));

    /// <summary>Hosts the shard service with the <c>Leases</c> section of the silo's configuration, then
    /// <paramref name="configure"/>.</summary>
    public static ISiloBuilder AddOrleansLeases(this ISiloBuilder silo, Action<ShardServiceOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        // Bound once, by the first call: a later call's settings in code are not overridden by the section again.
        var first = !Added(silo);
        return silo.AddOrleansLeases((OptionsBuilder<ShardServiceOptions> options) =>
        {
            if (first && silo.Configuration is { } configuration) options.Bind(configuration.GetSection(ShardServiceOptions.Section));
            options.Configure(configure);
        });
    }

    /// <summary>Hosts the shard service with the settings of <paramref name="configuration"/> (a section shaped as
    /// <see cref="ShardServiceOptions"/>).</summary>
    public static ISiloBuilder AddOrleansLeases(this ISiloBuilder silo, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return silo.AddOrleansLeases((OptionsBuilder<ShardServiceOptions> options) => options.Bind(configuration));
    }

    /// <summary>Hosts the shard service in this silo: shard state as ETag-guarded blobs in Orleans' binary format
    /// (its own serializer: the silo's other storage providers are left as they are), parts as blobs. Settings are
    /// validated when the silo starts.</summary>
    public static ISiloBuilder AddOrleansLeases(this ISiloBuilder silo, Action<OptionsBuilder<ShardServiceOptions>> configureOptions)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configureOptions);
        var options = silo.Services.AddOptions<ShardServiceOptions>();
        configureOptions(options);
        if (Added(silo)) return silo; // added before: settings only

        options.ValidateOnStart();
        silo.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ShardServiceOptions>, ShardServiceOptionsValidator>());
        silo.Services.AddMetrics();
        silo.Services.AddSingleton<ServiceMetrics>();
        // Keyed, so the host's own BlobServiceClient stays its own; a host may register this key first to supply one.
        silo.Services.TryAddKeyedSingleton(ShardStorage.Name,
            (sp, _) => ShardStorage.CreateBlobServiceClient(sp.GetRequiredService<IOptions<ShardServiceOptions>>().Value));
        silo.Services.AddSingleton(sp => new PartCache(sp.GetRequiredService<IOptions<ShardServiceOptions>>().Value.PartCacheBytes));
        silo.Services.AddSingleton<PartStore>();
        silo.Services.AddSingleton<Callers>();
        silo.Services.AddSingleton<IOutgoingGrainCallFilter>(sp => sp.GetRequiredService<Callers>());
        silo.Services.AddSingleton<HeldCalls>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<HeldCalls>());
        silo.Services.TryAddSingleton(TimeProvider.System);

        silo.Services.AddSingleton(sp => new ShardStateSerializer(sp.GetRequiredService<Serializer>()));
        silo.AddAzureBlobGrainStorage(ShardStorage.BlobsName, (OptionsBuilder<AzureBlobStorageOptions> blob) =>
            blob.Configure<IOptions<ShardServiceOptions>, ShardStateSerializer, IServiceProvider>((o, service, serializer, services) =>
            {
                o.BlobServiceClient = services.GetRequiredKeyedService<BlobServiceClient>(ShardStorage.Name);
                o.ContainerName = service.Value.StateContainer;
                // This provider's own serializer: the silo's default serves the host's other providers.
                o.GrainStorageSerializer = serializer;
            }));
        silo.Services.AddKeyedSingleton<IGrainStorage>(ShardStorage.Name,
            (sp, _) => new ShardStateStorage(sp.GetRequiredKeyedService<IGrainStorage>(ShardStorage.BlobsName)));
        return silo;
    }

    private static bool Added(ISiloBuilder silo) => silo.Services.Any(s => s.ServiceType == typeof(ShardStateSerializer));
}
