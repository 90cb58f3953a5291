using System.Net.Sockets;
using Orleans.Leases.Hosting;
using Orleans.Leases.Shards;
using Orleans.Leases.Tests.Infrastructure;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Shards;

/// <summary>A silo whose storage traffic goes through a TCP relay to the test Azurite, so a test can cut storage
/// off (every connection dropped, new ones refused) and bring it back with the data intact.</summary>
public sealed class OwnAzuriteFixture : ClusterFixture
{
    private const int RelayPort = 10110;
    private const int AzuritePort = 10000;
    private TcpListener? _listener;
    private readonly List<TcpClient> _connections = [];

    protected override ShardServiceOptions CreateOptions()
    {
        var options = base.CreateOptions();
        options.StorageConnectionString = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
            "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
            $"BlobEndpoint=http://127.0.0.1:{RelayPort}/devstoreaccount1;";
        options.CompactionFanout = 2;
        options.CompactionMinBatches = 0;
        return options;
    }

    public override async Task InitializeAsync()
    {
        StartStorage();
        await base.InitializeAsync();
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        StopStorage();
    }

    public void StartStorage()
    {
        _listener = new TcpListener(System.Net.IPAddress.Loopback, RelayPort);
        _listener.Start();
        _ = AcceptAsync(_listener);
    }

    public void StopStorage()
    {
        _listener?.Stop();
        lock (_connections)
        {
            foreach (var connection in _connections) connection.Dispose();
            _connections.Clear();
        }
    }

    private async Task AcceptAsync(TcpListener listener)
    {
        try
        {
            while (true)
            {
                var inbound = await listener.AcceptTcpClientAsync();
                var outbound = new TcpClient();
                await outbound.ConnectAsync("127.0.0.1", AzuritePort);
                lock (_connections) _connections.AddRange([inbound, outbound]);
                _ = Pump(inbound, outbound);
                _ = Pump(outbound, inbound);
            }
        }
        catch (Exception stopped) when (stopped is SocketException or ObjectDisposedException)
        {
            // The relay was stopped.
        }
    }

    private static async Task Pump(TcpClient from, TcpClient to)
    {
        try
        {
            await from.GetStream().CopyToAsync(to.GetStream());
        }
        catch (Exception closed) when (closed is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // Either side went away.
        }
        to.Dispose();
        from.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class OwnAzuriteCluster : ICollectionFixture<OwnAzuriteFixture>
{
    public const string Name = "own azurite cluster";
}

[Collection(OwnAzuriteCluster.Name)]
public sealed class StorageOutageTests(OwnAzuriteFixture fixture)
{
    [Fact]
    public async Task Storage_stopped_during_compaction_and_gc_loses_nothing_and_work_resumes()
    {
        var shard = ClusterFixture.NewShard("outage");
        var writer = fixture.Shards.Writer(shard);
        var all = new List<Update>();
        async Task Append(ulong t)
        {
            Update[] batch = [At(t, $"k{t % 4}")];
            Assert.Equal(AppendOutcome.Applied, (await writer.CompareAndAppendAsync(batch, F(t), F(t + 1), $"key-{t}")).Outcome);
            all.AddRange(batch);
        }
        for (var t = 0UL; t < 6; t++) await Append(t);

        // The last append starts a maintenance run; storage goes away under it.
        await Append(6);
        fixture.StopStorage();
        var during = await Assert.ThrowsAsync<ShardStorageException>(() => writer.CompareAndAppendAsync([At(7, "lost")], F(7), F(8), "key-7"));
        Assert.Contains(shard.Value, during.Message);

        fixture.StartStorage();
        for (var t = 7UL; t < 10; t++) await Append(t); // key-7 again: applied once, whatever the outage did

        // The last appends leave a run to merge in any state: only a compactor at work leaves none.
        var policy = new CompactionPolicy(fixture.Options.CompactionFanout, fixture.Options.CompactionMinBatches);
        var (state, _) = await Eventually.Async(() => fixture.PersistedAsync(shard),
            p => p.State.CompactionCandidates(policy).IsEmpty && p.State.Retired.IsEmpty,
            "compaction and GC did not resume", TimeSpan.FromSeconds(90));
        Assert.Equal(F(10), state.Upper);
        var stored = await fixture.PartBlobsAsync(shard);
        var referenced = state.ReferencedParts();
        Assert.All(referenced, name => Assert.Contains(name, stored)); // nothing referenced was lost
        for (var asOf = 0UL; asOf < 10; asOf++)
            Assert.Equal(Consolidation.AsOf(all, asOf).ToArray(), (await fixture.Shards.ReadAsync(shard, asOf)).ToArray());
    }

    [Fact]
    public async Task A_lease_outlives_a_storage_outage_shorter_than_its_duration()
    {
        var shard = ClusterFixture.NewShard("outage-lease");
        await fixture.Shards.Writer(shard).CompareAndAppendAsync([At(0, "a")], F(0), F(1), "a");
        var settings = new LeaseSettings { LeaseDuration = TimeSpan.FromSeconds(20), HeartbeatInterval = TimeSpan.FromSeconds(1) };
        await using var reader = await fixture.Shards.OpenReaderAsync(shard, settings);
        var leased = await reader.SnapshotAsync(0);

        fixture.StopStorage();
        var cutAt = DateTimeOffset.UtcNow;
        // A change that needs storage waits in the storage client's retries, and fails with the typed error if
        // storage stays away longer; the lease's heartbeats wait the same way in the background.
        var during = reader.SnapshotAsync(0);
        await Task.Delay(TimeSpan.FromSeconds(8));
        fixture.StartStorage();
        try
        {
            await during;
        }
        catch (ShardStorageException)
        {
            // In doubt while storage was away: the caller may retry.
        }

        var info = await Eventually.Async(reader.InspectAsync, i => !i.IsLive || i.Durable!.LastHeartbeat > cutAt,
            "no heartbeat after storage came back", TimeSpan.FromSeconds(30));
        Assert.True(info.IsLive, $"the lease was lost to an 8 s outage: {info}");
        Assert.True(info.OutstandingLeases >= 1);
        Assert.True(info.Durable!.SeqNoHold <= leased.SeqNo, "the hold moved past the outstanding leased part");
        Assert.Single(await reader.ReadAsync(leased));
    }
}
