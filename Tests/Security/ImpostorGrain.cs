using Orleans.Leases.Shards;

namespace Orleans.Leases.Tests.Security;

/// <summary>A grain in the same cluster that makes the service's internal calls itself: a caller that holds the
/// internal interface types (as a test with InternalsVisibleTo, or reflection, would) and runs inside a silo.
/// Keyed like the lease grain of the reader it impersonates.</summary>
public interface IImpostorGrain : IGrainWithStringKey
{
    Task SyncAs(ShardId shard, ReaderId reader, ulong returnedLease);

    Task Append(ShardId shard, Batch batch);

    Task EraseHistory(ShardId shard);
}

internal sealed class ImpostorGrain : Grain, IImpostorGrain
{
    public Task SyncAs(ShardId shard, ReaderId reader, ulong returnedLease) =>
        GrainFactory.GetGrain<IShardReaders>(shard.Value).SyncReader(reader, Frontier.At(9), [returnedLease], urgent: true);

    public Task Append(ShardId shard, Batch batch) =>
        GrainFactory.GetGrain<IShardAppends>(shard.Value).CompareAndAppend(batch, batch.Lower);

    public async Task EraseHistory(ShardId shard)
    {
        var maintenance = GrainFactory.GetGrain<IShardMaintenance>(shard.Value);
        await maintenance.CompactBatches([.. (await maintenance.MaintenancePlan()).CompactRun], []);
    }
}
