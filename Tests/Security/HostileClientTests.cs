using System.Reflection;
using Orleans.Leases.Parts;
using Orleans.Leases.Shards;
using Orleans.Leases.Tests.Infrastructure;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Security;

/// <summary>
/// Attacks that TrustBoundaryTests does not make: a client that controls what its own runtime stamps on its messages,
/// and a client that names someone else's client observer as its own. Time is fake and held still (but for the
/// heartbeats a test drives), so nothing but the attack could change the state.
/// </summary>
[Collection(LeaseCluster.Name)]
public sealed class HostileClientTests(LeaseClusterFixture fixture)
{
    /// <summary>
    /// Sends <paramref name="call"/> with <paramref name="sender"/> as its sending grain: what any client can do, since
    /// the id is written into the message by the client's own runtime (here: its <c>CurrentActivationAddress</c>, set by
    /// reflection; a hand-written client writes any bytes it likes) and the gateway does not check it against the
    /// connection's client id. The answer goes to the impersonated grain, so it is not awaited.
    /// </summary>
    private async Task SpoofedAsync(GrainId sender, Func<Task> call)
    {
        var runtimeType = typeof(IClusterClient).Assembly.GetType("Orleans.OutsideRuntimeClient", throwOnError: true)!;
        var runtime = fixture.Client.ServiceProvider.GetService(runtimeType)!;
        var address = runtimeType.GetProperty("CurrentActivationAddress", BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance)!;
        var own = (GrainAddress)address.GetValue(runtime)!;
        Task sent;
        try
        {
            address.SetValue(runtime, new GrainAddress { GrainId = sender, SiloAddress = own.SiloAddress, ActivationId = own.ActivationId });
            sent = call(); // stamped while the call is made
        }
        finally
        {
            address.SetValue(runtime, own);
        }
        sent.Ignore();
        await Task.Delay(TimeSpan.FromSeconds(2)); // time for the call to be applied, if it is accepted
    }

    [Fact]
    public async Task A_client_stamping_an_internal_callers_id_on_its_messages_is_refused()
    {
        var (shard, victim, leased) = await Victim.OpenAsync(fixture, "spoofed-source");
        await using var _ = victim;
        var before = await fixture.PersistedAsync(shard);
        var victimsLeaseGrain = fixture.Client.GetGrain<IReaderLeaseGrain>(ReaderLeaseKey.Format(shard, victim.Reader)).GetGrainId();
        var compactor = fixture.Client.GetGrain<ICompactorGrain>(shard.Value).GetGrainId();

        // As the victim's lease grain: end its lease (S5, S8). As the shard's compactor: replace every batch by none
        // (S3), then forget the retired parts.
        await SpoofedAsync(victimsLeaseGrain, () => fixture.Client.GetGrain<IShardReaders>(shard.Value).ExpireReader(victim.Reader));
        await SpoofedAsync(compactor, () => fixture.Client.GetGrain<IShardMaintenance>(shard.Value).CompactBatches([.. before.State.Batches], []));

        // S4: the victim still fetches the parts it leased (the real compactor has not collected them as garbage).
        Assert.Equal([("a", "v", (Int128)1), ("b", "v", (Int128)1)], (await victim.ReadAsync(leased)).ToArray());
        var after = await fixture.PersistedAsync(shard);
        Assert.Contains(victim.Reader.Value, after.State.Readers.Keys);
        Assert.Equal([("a", "v", (Int128)1), ("b", "v", (Int128)1)], (await fixture.Shards.ReadAsync(shard, 1)).ToArray());
        Assert.Equal((before.ETag, before.State.SeqNo), (after.ETag, after.State.SeqNo));
    }

    [Fact]
    public async Task A_reader_opened_with_another_clients_observer_does_not_outlive_its_own_client()
    {
        var (shard, victim, leased) = await Victim.OpenAsync(fixture, "borrowed-client");
        await using var _ = victim;
        var shardGrain = fixture.Client.GetGrain<IShardGrain>(shard.Value);
        // What operators may read names every reader's client observer...
        var victimsClient = (await shardGrain.ReaderStatus(victim.Reader))!.Client!.Value;
        var intruder = ReaderId.NewId();
        var lease = fixture.Client.GetGrain<IReaderLeaseGrain>(ReaderLeaseKey.Format(shard, intruder));
        var secret = ReaderSecret.New();
        try
        {
            // ...and an intruder opens a reader naming the victim's observer as the client its lease grain pings. It never
            // had an observer of its own: it is as gone as a client can be. (Refusing the Open is one way to pass.)
            try
            {
                await lease.Open(secret, fixture.Settings, fixture.Client.GetGrain<IReaderClient>(victimsClient));
            }
            catch (ShardException)
            {
            }
            await victim.DowngradeSinceAsync(F(2));

            for (var i = 0; i < 6; i++) await fixture.HeartbeatAsync(victim); // 1.5 lease durations

            // L2: a reader whose client is gone holds nothing after its lease; S2: the shard's since is the meet of the
            // live readers', here the victim's alone.
            Assert.Null(await shardGrain.ReaderStatus(intruder));
            Assert.Equal(F(2), (await shardGrain.Inspect()).Since);
        }
        finally
        {
            try { await lease.Expire(secret); } catch (ShardException) { }
        }
    }
}
