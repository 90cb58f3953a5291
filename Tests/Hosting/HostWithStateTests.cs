using Microsoft.Extensions.DependencyInjection;
using Orleans.Leases.Tests.Infrastructure;
using Orleans.Storage;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Hosting;

/// <summary>A team's silo as it was before it added the shard service: default grain storage (Orleans' default
/// serializer) holding the state of a grain of its own named <c>ShardGrain</c>.</summary>
public sealed class HostWithStateFixture : ClusterFixture
{
    public const string HostContainer = "host-state";

    protected override void ConfigureSilo(ISiloBuilder silo) =>
        silo.AddAzureBlobGrainStorageAsDefault(o =>
        {
            o.BlobServiceClient = new Azure.Storage.Blobs.BlobServiceClient(ConnectionString);
            o.ContainerName = HostContainer;
        });
}

[CollectionDefinition(Name)]
public sealed class HostWithStateCluster : ICollectionFixture<HostWithStateFixture>
{
    public const string Name = "host with state";
}

public interface IInventoryGrain : IGrainWithStringKey
{
    Task<int> Count();

    Task<int> Add(int count);
}

public sealed class Inventory
{
    public int Count { get; set; }
}

/// <summary>The host's own grain, named as the service's shard grain class is.</summary>
public sealed class ShardGrain([PersistentState("inventory")] IPersistentState<Inventory> inventory) : Grain, IInventoryGrain
{
    public Task<int> Count() => Task.FromResult(inventory.State.Count);

    public async Task<int> Add(int count)
    {
        inventory.State.Count += count;
        await inventory.WriteStateAsync();
        return inventory.State.Count;
    }
}

[Collection(HostWithStateCluster.Name)]
public sealed class HostWithStateTests(HostWithStateFixture fixture)
{
    [Fact]
    public async Task A_host_keeps_its_own_shard_grain_and_state_and_the_service_works_beside_it()
    {
        var key = $"books-{Guid.NewGuid():N}";
        var host = fixture.Client.GetGrain<IInventoryGrain>(key);
        var hostStorage = fixture.Cluster.GetSiloServiceProvider().GetRequiredKeyedService<IGrainStorage>("Default");
        // Stored before the service was added, by the host's default storage and serializer.
        await hostStorage.WriteStateAsync("inventory", host.GetGrainId(), new GrainState<Inventory>(new Inventory { Count = 5 }));

        Assert.Equal("shard", host.GetGrainId().Type.ToString());
        Assert.Equal(5, await host.Count());
        Assert.Equal(7, await host.Add(2));

        // The service's shard of the same key: a grain of its own type, its state in its own container.
        var shard = new ShardId(key);
        Assert.NotEqual(host.GetGrainId().Type, fixture.Client.GetGrain<IShardGrain>(key).GetGrainId().Type);
        Assert.Equal(AppendOutcome.Applied, (await fixture.Shards.Writer(shard).CompareAndAppendAsync([At(0, "a"), At(1, "b")], F(0), F(2))).Outcome);
        await using (var reader = await fixture.Shards.OpenReaderAsync(shard))
            Assert.Equal(new[] { ("a", "v", (Int128)1), ("b", "v", (Int128)1) }, await reader.ReadAsync(await reader.SnapshotAsync(1)));

        // The host's state is still the host's: read back by its provider, stored in Orleans' default JSON.
        var stored = new GrainState<Inventory>();
        await hostStorage.ReadStateAsync("inventory", host.GetGrainId(), stored);
        Assert.Equal(7, stored.State!.Count);
        var blob = fixture.Blobs.GetBlobContainerClient(HostWithStateFixture.HostContainer).GetBlobClient($"inventory-{host.GetGrainId()}.json");
        Assert.Equal((byte)'{', (await blob.DownloadContentAsync()).Value.Content.ToArray()[0]);
        Assert.Equal(7, await host.Count());
    }
}
