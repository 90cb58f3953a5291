using Orleans.Leases.Tests.Infrastructure;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Security;

internal static class Victim
{
    /// <summary>A shard [a@0, b@1], and a victim reader that holds a leased snapshot as of 1.</summary>
    public static async Task<(ShardId Shard, ReadHandle Victim, LeasedSnapshot Leased)> OpenAsync(LeaseClusterFixture fixture, string name)
    {
        var shard = ClusterFixture.NewShard(name);
        var writer = fixture.Shards.Writer(shard);
        await writer.CompareAndAppendAsync([At(0, "a")], F(0), F(1));
        await writer.CompareAndAppendAsync([At(1, "b")], F(1), F(2));
        var victim = await fixture.Shards.OpenReaderAsync(shard, fixture.Settings);
        return (shard, victim, await victim.SnapshotAsync(1));
    }
}
