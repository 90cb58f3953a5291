using Azure.Storage.Blobs;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Leases.Parts;
using Orleans.Leases.Shards;
using Orleans.Runtime;
using Orleans.Serialization;
using Orleans.Storage;

namespace Orleans.Leases.Hosting;

public static class ShardStorage
{
    /// <summary>The grain storage provider holding shard state.</summary>
    public const string Name = "shards";

    /// <summary>Orleans' Azure blob provider under <see cref="ShardStateStorage"/>.</summary>
    private const string BlobsName = Name + ".blobs";

    /// <summary>A blob client for <paramref name="connectionString"/>. Pinned to a service version that both Azure
    /// and Azurite 3.37 accept.</summary>
    public static BlobServiceClient CreateBlobServiceClient(string connectionString, bool quickRetries = false) =>
        new(connectionString, ClientOptions(quickRetries));

    /// <summary>The service's blob client as <paramref name="options"/> describe it: a service URI with a credential,
    /// or a connection string.</summary>
    public static BlobServiceClient CreateBlobServiceClient(ShardServiceOptions options) => options.StorageServiceUri is { } uri
        ? new(uri, options.StorageCredential ?? throw new InvalidOperationException("Leases:StorageServiceUri needs a StorageCredential."), ClientOptions(false))
        : CreateBlobServiceClient(options.StorageConnectionString);

    private static BlobClientOptions ClientOptions(bool quickRetries)
    {
        var options = new BlobClientOptions(BlobClientOptions.ServiceVersion.V2026_06_06);
        // A request that hangs is retried after 10 s instead of the SDK's 100 s: a stuck write stalls a whole shard.
        options.Retry.NetworkTimeout = TimeSpan.FromSeconds(10);
        if (quickRetries)
        {
            options.Retry.MaxRetries = 1;
            options.Retry.Delay = TimeSpan.FromMilliseconds(200);
        }
        return options;
    }

    /// <summary>Hosts the shard service in this silo: shard state as ETag-guarded blobs in Orleans' binary format
    /// (<see cref="ShardStateSerializer"/>), parts as blobs. Other storage providers of the silo are left as they are.</summary>
    public static ISiloBuilder AddShardService(this ISiloBuilder silo, Action<ShardServiceOptions>? configure = null)
    {
        var options = silo.Services.AddOptions<ShardServiceOptions>();
        if (silo.Configuration is { } configuration)
            options.Bind(configuration.GetSection(ShardServiceOptions.Section));
        if (configure is not null) options.Configure(configure);
        options.ValidateOnStart();
        silo.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ShardServiceOptions>, ShardServiceOptionsValidator>());

        silo.Services.AddMetrics();
        silo.Services.AddSingleton<ServiceMetrics>();
        // Keyed, so the host's own BlobServiceClient stays its own; a host may register this key first to supply one.
        silo.Services.TryAddKeyedSingleton(Name, (sp, _) => CreateBlobServiceClient(sp.GetRequiredService<IOptions<ShardServiceOptions>>().Value));
        silo.Services.AddSingleton<PartStore>();
        silo.Services.AddSingleton<Callers>();
        silo.Services.AddSingleton<IOutgoingGrainCallFilter>(sp => sp.GetRequiredService<Callers>());
        silo.Services.AddSingleton<HeldCalls>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<HeldCalls>());
        silo.Services.TryAddSingleton(TimeProvider.System);

        silo.AddAzureBlobGrainStorage(BlobsName, (OptionsBuilder<AzureBlobStorageOptions> blob) =>
            blob.Configure<IOptions<ShardServiceOptions>, Serializer, IServiceProvider>((o, service, serializer, services) =>
            {
                o.BlobServiceClient = services.GetRequiredKeyedService<BlobServiceClient>(Name);
                o.ContainerName = service.Value.StateContainer;
                // This provider's own serializer: the silo's default serves the host's other providers.
                o.GrainStorageSerializer = new ShardStateSerializer(serializer);
            }));
        silo.Services.AddKeyedSingleton<IGrainStorage>(Name, (sp, _) => new ShardStateStorage(sp.GetRequiredKeyedService<IGrainStorage>(BlobsName)));
        return silo;
    }
}
