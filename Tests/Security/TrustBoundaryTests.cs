using Orleans.Leases.Parts;
using Orleans.Leases.Shards;
using Orleans.Leases.Tests.Infrastructure;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Security;

/// <summary>
/// A hostile (or buggy) cluster client and a foreign grain in the cluster call every internal entry and every reader
/// verb on behalf of someone else. Each call is refused with a typed error, the shard's persisted state keeps its
/// ETag and seqno, and the victim reader's lease, holds and leased part are untouched (S4, S5, S7, S8).
/// Time is fake and held still, so nothing but the attack could change the state.
/// </summary>
[Collection(LeaseCluster.Name)]
public sealed class TrustBoundaryTests(LeaseClusterFixture fixture)
{
    /// <summary>The attack changed nothing: same persisted state, victim live, its lease and part still there.</summary>
    private async Task AssertUntouchedAsync(ShardId shard, (ShardState State, string? ETag) before, ReadHandle victim, LeasedSnapshot leased)
    {
        var after = await fixture.PersistedAsync(shard);
        Assert.Equal((before.ETag, before.State.SeqNo), (after.ETag, after.State.SeqNo));
        var info = await victim.InspectAsync();
        Assert.True(info.IsLive);
        Assert.Equal(1, info.OutstandingLeases);
        Assert.Contains(leased.LeaseId, after.State.Readers[victim.Reader.Value].Leases.Keys);
        Assert.Equal([("a", "v", (long)1), ("b", "v", (long)1)], (await victim.ReadAsync(leased)).ToArray());
    }

    [Fact]
    public async Task Reader_plumbing_is_refused_from_a_client_and_from_any_grain_but_the_readers_lease_grain()
    {
        var (shard, victim, leased) = await Victim.OpenAsync(fixture, "plumbing");
        await using var _ = victim;
        var before = await fixture.PersistedAsync(shard);
        var readers = fixture.Client.GetGrain<IShardReaders>(shard.Value);
        var someClient = GrainId.Create("sys.client", "someone");

        await Assert.ThrowsAsync<AccessDeniedException>(() => readers.SyncReader(victim.Reader, F(9), [leased.LeaseId], true));
        await Assert.ThrowsAsync<AccessDeniedException>(() => readers.LeaseSnapshot(victim.Reader, F(0), 1));
        await Assert.ThrowsAsync<AccessDeniedException>(() => readers.LeaseAfter(victim.Reader, F(0), 0));
        await Assert.ThrowsAsync<AccessDeniedException>(() => readers.ExpireReader(victim.Reader));
        await Assert.ThrowsAsync<AccessDeniedException>(() => readers.ResumeReader(victim.Reader));
        await Assert.ThrowsAsync<AccessDeniedException>(() => readers.RegisterReader(ReaderId.NewId(), fixture.Settings, someClient, "hash"));
        await Assert.ThrowsAsync<AccessDeniedException>(() => readers.RegisterReader(default, fixture.Settings, default, null!));
        // A grain in the cluster, even one keyed like the victim's lease grain, is not that lease grain.
        var impostor = fixture.Client.GetGrain<IImpostorGrain>(ReaderLeaseKey.Format(shard, victim.Reader));
        await Assert.ThrowsAsync<AccessDeniedException>(() => impostor.SyncAs(shard, victim.Reader, leased.LeaseId));

        await AssertUntouchedAsync(shard, before, victim, leased);
    }

    [Fact]
    public async Task Appends_of_parts_are_refused_from_anyone_but_a_part_worker()
    {
        var (shard, victim, leased) = await Victim.OpenAsync(fixture, "append");
        await using var _ = victim;
        var before = await fixture.PersistedAsync(shard);
        var victimPart = leased.Parts[0];
        var batches = new[]
        {
            new Batch(F(2), F(3), [new PartRef("../shard-state/other.json", 1, 1)], "traversal"),
            new Batch(F(2), F(3), [victimPart], "someone-elses-part"),
            new Batch(F(2), F(3), [], "no-parts"),
        };

        foreach (var batch in batches)
        {
            await Assert.ThrowsAsync<AccessDeniedException>(() => fixture.Client.GetGrain<IShardAppends>(shard.Value).CompareAndAppend(batch, F(2)));
            await Assert.ThrowsAsync<AccessDeniedException>(() => fixture.Client.GetGrain<IImpostorGrain>("x").Append(shard, batch));
        }

        await AssertUntouchedAsync(shard, before, victim, leased);
    }

    [Fact]
    public async Task Maintenance_is_refused_from_anyone_but_the_shards_compactor()
    {
        var (shard, victim, leased) = await Victim.OpenAsync(fixture, "maintenance");
        await using var _ = victim;
        var before = await fixture.PersistedAsync(shard);
        var maintenance = fixture.Client.GetGrain<IShardMaintenance>(shard.Value);
        var batches = before.State.Batches.ToArray();

        await Assert.ThrowsAsync<AccessDeniedException>(() => maintenance.CompactBatches([.. batches], [])); // erase history
        await Assert.ThrowsAsync<AccessDeniedException>(() => maintenance.ForgetDeletedParts([.. leased.Parts.Select(p => p.Name)]));
        await Assert.ThrowsAsync<AccessDeniedException>(maintenance.MaintenancePlan);
        await Assert.ThrowsAsync<AccessDeniedException>(maintenance.ReferencedParts);
        await Assert.ThrowsAsync<AccessDeniedException>(() => fixture.Client.GetGrain<ICompactorGrain>(shard.Value).Run(scanOrphans: true));
        await Assert.ThrowsAsync<AccessDeniedException>(() => fixture.Client.GetGrain<IImpostorGrain>(shard.Value).EraseHistory(shard));

        await AssertUntouchedAsync(shard, before, victim, leased);
    }

    [Fact]
    public async Task Knowing_a_reader_id_and_its_lease_ids_is_not_enough_to_act_for_it()
    {
        var (shard, victim, leased) = await Victim.OpenAsync(fixture, "capability");
        await using var _ = victim;
        var before = await fixture.PersistedAsync(shard);
        // What operators may read hands out the reader's id and lease ids...
        var shardGrain = fixture.Client.GetGrain<IShardGrain>(shard.Value);
        var readerId = Assert.Single(await shardGrain.ReaderIds());
        var leaseId = Assert.Single((await shardGrain.ReaderStatus(readerId))!.Leases.Keys);
        var lease = fixture.Client.GetGrain<IReaderLeaseGrain>(ReaderLeaseKey.Format(shard, readerId));

        // ...but no verb works without the secret the victim's client holds.
        foreach (var guess in new[] { ReaderSecret.New(), default })
        {
            await Assert.ThrowsAsync<AccessDeniedException>(() => lease.ReturnLease(guess, leaseId));
            await Assert.ThrowsAsync<AccessDeniedException>(() => lease.DowngradeSince(guess, F(2)));
            await Assert.ThrowsAsync<AccessDeniedException>(() => lease.Snapshot(guess, 1));
            await Assert.ThrowsAsync<AccessDeniedException>(() => lease.LeaseAfter(guess, 0));
            await Assert.ThrowsAsync<AccessDeniedException>(() => lease.Expire(guess));
            await Assert.ThrowsAsync<AccessDeniedException>(() => lease.Open(guess, fixture.Settings, null!));
        }
        await Assert.ThrowsAsync<AccessDeniedException>(() => fixture.Shards.OpenReaderAsync(shard, fixture.Settings, readerId));
        await AssertUntouchedAsync(shard, before, victim, leased);

        // The victim's own task still keeps its hold at the leased seqno.
        await fixture.HeartbeatAsync(victim);
        var status = (await shardGrain.ReaderStatus(readerId))!;
        Assert.True(status.SeqNoHold <= leased.SeqNo);
        Assert.Equal([leaseId], status.Leases.Keys);
    }

    /// <summary>The reader's own listen, from the worst as-ofs: below its since (refused, typed) and the last time
    /// (nothing can follow it). Neither changes the shard.</summary>
    [Fact]
    public async Task A_listen_from_below_the_since_is_refused_and_one_past_the_last_time_yields_nothing()
    {
        var (shard, victim, leased) = await Victim.OpenAsync(fixture, "listen-values");
        await using var _ = victim;
        await victim.DowngradeSinceAsync(F(1)); // the only reader: woken at once, the shard's since follows
        await Eventually.Async(() => fixture.Shards.InspectAsync(shard), i => i.Since == F(1), "the since did not move");
        var before = await fixture.PersistedAsync(shard);

        await Assert.ThrowsAsync<AsOfBeforeSinceException>(async () =>
        {
            await foreach (var e in victim.ListenAsync(0, new ListenOptions())) Assert.Fail($"yielded {e}");
        });
        await foreach (var e in victim.ListenAsync(ulong.MaxValue, new ListenOptions())) Assert.Fail($"yielded {e}");

        await AssertUntouchedAsync(shard, before, victim, leased);
    }

    [Fact]
    public async Task A_reader_without_a_client_is_refused()
    {
        var shard = ClusterFixture.NewShard("no-client");
        await fixture.Shards.Writer(shard).CompareAndAppendAsync([At(0, "a")], F(0), F(1));
        var lease = fixture.Client.GetGrain<IReaderLeaseGrain>(ReaderLeaseKey.Format(shard, ReaderId.NewId()));

        await Assert.ThrowsAsync<InvalidInputException>(() => lease.Open(ReaderSecret.New(), fixture.Settings, null!));

        Assert.Equal(0, (await fixture.Shards.InspectAsync(shard)).Readers);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("../shard-state/shard-x.json")]
    [InlineData("x/../../shard-state/shard-x.json")]
    [InlineData("%2e%2e/shard-state/x.json")]
    [InlineData("x/0123456789abcdef0123456789abcdef.json?comp=list")]
    [InlineData("x/0123456789ABCDEF0123456789ABCDEF.json")]
    [InlineData("x/0123456789abcdef0123456789abcdef.json/..")]
    [InlineData("https://127.0.0.1:10000/devstoreaccount1/shard-state/x.json")]
    public async Task Part_reads_outside_the_shards_parts_are_refused(string? name)
    {
        var worker = fixture.Client.GetGrain<IPartWorkerGrain>(0);

        await Assert.ThrowsAsync<InvalidPartException>(() => worker.ReadPart(name is null ? null! : new PartRef(name, 1, 1)));
    }
}
