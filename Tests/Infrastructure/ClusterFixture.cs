using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.Hosting;
using Orleans.Leases.Hosting;
using Orleans.Leases.Shards;
using Orleans.Storage;
using Orleans.TestingHost;

namespace Orleans.Leases.Tests.Infrastructure;

/// <summary>A TestCluster whose silos host the shard service on the Azurite that test.sh runs.</summary>
public abstract class ClusterFixture : IAsyncLifetime
{
    public const string ConnectionString = "UseDevelopmentStorage=true";

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public IClusterClient Client => Cluster.Client;

    public ShardClient Shards => Client.ServiceProvider.GetRequiredService<ShardClient>();

    public BlobServiceClient Blobs => ShardStorage.CreateBlobServiceClient(Options.StorageConnectionString);

    /// <summary>The silos' settings.</summary>
    public ShardServiceOptions Options { get; }

    protected ClusterFixture() => Options = CreateOptions();

    /// <summary>The defaults, on Azurite, with inline batches on (as a cluster all of this version runs) and a shorter
    /// patience for appends ahead of upper.</summary>
    protected virtual ShardServiceOptions CreateOptions() => new()
    {
        StorageConnectionString = ConnectionString,
        AppendAheadPatience = TimeSpan.FromSeconds(3),
        InlineWriteMaxBytes = 4096,
    };

    protected virtual short SiloCount => 1;

    protected virtual void ConfigureSilo(ISiloBuilder silo) { }

    protected virtual void ConfigureClient(IClientBuilder client) { }

    public virtual async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(SiloCount);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddOrleansLeases(o =>
            {
                o.StorageConnectionString = Options.StorageConnectionString;
                o.AppendAheadPatience = Options.AppendAheadPatience;
                o.CompactionFanout = Options.CompactionFanout;
                o.CompactionMinBatches = Options.CompactionMinBatches;
                o.OrphanScanInterval = Options.OrphanScanInterval;
                o.OrphanMinAge = Options.OrphanMinAge;
                o.HeartbeatWriteDelay = Options.HeartbeatWriteDelay;
                o.InlineWriteMaxBytes = Options.InlineWriteMaxBytes;
                o.InlineWritesTotalMaxBytes = Options.InlineWritesTotalMaxBytes;
                o.PartCacheBytes = Options.PartCacheBytes;
            });
            silo.AddActivityPropagation(); // as the Silo host does: spans reach across grains
            ConfigureSilo(silo);
        });
        builder.ConfigureClient(client =>
        {
            client.AddOrleansLeasesClient(); // as an application registers it
            client.AddActivityPropagation();
            ConfigureClient(client);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public virtual async Task DisposeAsync() => await Cluster.DisposeAsync();

    /// <summary>A shard id no other test uses.</summary>
    public static ShardId NewShard(string name) => new($"{name}-{Guid.NewGuid():N}");

    /// <summary>The part blobs stored for <paramref name="shard"/>.</summary>
    public async Task<List<string>> PartBlobsAsync(ShardId shard)
    {
        var names = new List<string>();
        if (!await Blobs.GetBlobContainerClient(Options.PartsContainer).ExistsAsync()) return names; // no part stored yet
        await foreach (var blob in Blobs.GetBlobContainerClient(Options.PartsContainer).GetBlobsAsync(BlobTraits.None, BlobStates.None, shard.Value + "/", default))
            names.Add(blob.Name);
        return names;
    }

    /// <summary>The shard's state as persisted, and its ETag: what a refused call must leave unchanged.</summary>
    internal async Task<(ShardState State, string? ETag)> PersistedAsync(ShardId shard)
    {
        var persisted = new GrainState<ShardState>();
        await ShardStateStorage.ReadStateAsync("shard", Client.GetGrain<IShardGrain>(shard.Value).GetGrainId(), persisted);
        return (persisted.State ?? new ShardState(), persisted.ETag);
    }

    /// <summary>The storage provider the shard grains write through, as a second writer would use it.</summary>
    public IGrainStorage ShardStateStorage =>
        Cluster.GetSiloServiceProvider().GetRequiredKeyedService<IGrainStorage>(ShardStorage.Name);
}

/// <summary>One silo on the real clock; compaction off, so the tests count appends' writes alone, and every batch
/// stored as a part, so they count part blobs (inline batches: <c>InlineBatchTests</c>).</summary>
public sealed class ShardClusterFixture : ClusterFixture
{
    protected override ShardServiceOptions CreateOptions()
    {
        var options = base.CreateOptions();
        options.CompactionMinBatches = int.MaxValue; // never reached
        options.InlineWriteMaxBytes = 0;
        return options;
    }

    /// <summary>The blob endpoint of the host's own client: nothing listens there.</summary>
    public static readonly Uri HostBlobs = new("http://127.0.0.1:9/devstoreaccount1");

    // A host with a BlobServiceClient of its own, as an application silo may have: the service must leave it alone.
    protected override void ConfigureSilo(ISiloBuilder silo) => silo.Services.AddSingleton(new BlobServiceClient(HostBlobs));
}

[CollectionDefinition(Name)]
public sealed class ShardCluster : ICollectionFixture<ShardClusterFixture>
{
    public const string Name = "shard cluster";
}
