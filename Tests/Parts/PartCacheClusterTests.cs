using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Leases.Hosting;
using Orleans.Leases.Parts;
using Orleans.Leases.Tests.Infrastructure;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Parts;

/// <summary>One silo whose part downloads are counted at its blob client; every batch stored as a part, compaction
/// off, so the parts a test writes are the parts it reads.</summary>
public abstract class PartReadsFixture : ClusterFixture
{
    public PartDownloads Downloads { get; } = new(new ShardServiceOptions().PartsContainer);

    protected abstract long CacheBytes { get; }

    protected override ShardServiceOptions CreateOptions()
    {
        var options = base.CreateOptions();
        options.InlineWriteMaxBytes = 0;
        options.CompactionMinBatches = int.MaxValue;
        options.PartCacheBytes = CacheBytes;
        return options;
    }

    // Registered after the service's own: the host's keyed client is the one the service uses.
    protected override void ConfigureSilo(ISiloBuilder silo) =>
        silo.Services.AddKeyedSingleton(ShardStorage.Name, (_, _) => Downloads.Client(Options.StorageConnectionString));

    internal T Silo<T>() where T : notnull => Cluster.GetSiloServiceProvider().GetRequiredService<T>();

    /// <summary>Opens <paramref name="count"/> readers of <paramref name="shard"/>, leases each a snapshot as of
    /// <paramref name="asOf"/>, then has them all read their snapshot at once; answers the parts and what the silo's
    /// part metrics counted during the reads.</summary>
    public async Task<(List<string> Parts, long Reads, long Hits)> ReadTogetherAsync(ShardId shard, ulong asOf, int count)
    {
        var readers = await Task.WhenAll(Enumerable.Range(0, count).Select(_ => Shards.OpenReaderAsync(shard)));
        try
        {
            var snapshots = await Task.WhenAll(readers.Select(r => r.SnapshotAsync(asOf)));
            var parts = snapshots[0].Parts.Select(p => p.Name).ToList();
            Assert.All(snapshots, s => Assert.Equal(parts, s.Parts.Select(p => p.Name)));

            using var metrics = new PartReadMetrics(Silo<IMeterFactory>());
            var read = await Task.WhenAll(readers.Zip(snapshots, (reader, snapshot) => reader.ReadAsync(snapshot)));
            Assert.All(read, r => Assert.Equal(read[0].ToArray(), r.ToArray()));
            return (parts, metrics.Reads, metrics.Hits);
        }
        finally
        {
            await Task.WhenAll(readers.Select(r => r.DisposeAsync().AsTask()));
        }
    }

    /// <summary>Appends <paramref name="batches"/> one-update batches, each stored as a part.</summary>
    public async Task WriteAsync(ShardId shard, int batches)
    {
        var writer = Shards.Writer(shard);
        for (var t = 0UL; t < (ulong)batches; t++) await writer.CompareAndAppendAsync([At(t, $"k{t}")], F(t), F(t + 1));
    }
}

public sealed class PartCacheOnFixture : PartReadsFixture
{
    protected override long CacheBytes => 1024 * 1024;
}

public sealed class PartCacheOffFixture : PartReadsFixture
{
    protected override long CacheBytes => 0;
}

[CollectionDefinition(Name)]
public sealed class PartCacheOnCluster : ICollectionFixture<PartCacheOnFixture>
{
    public const string Name = "part cache on";
}

[CollectionDefinition(Name)]
public sealed class PartCacheOffCluster : ICollectionFixture<PartCacheOffFixture>
{
    public const string Name = "part cache off";
}

/// <summary>The silo's part metrics, counted for one silo (its meter factory) while this lives.</summary>
internal sealed class PartReadMetrics : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _reads;
    private long _hits;

    public PartReadMetrics(IMeterFactory silo)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Scope == silo && instrument is { Name: "leases.parts.reads" or "leases.parts.cache_hits", Unit: "{read}" })
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
            Interlocked.Add(ref instrument.Name == "leases.parts.reads" ? ref _reads : ref _hits, value));
        _listener.Start();
    }

    public long Reads => Interlocked.Read(ref _reads);

    public long Hits => Interlocked.Read(ref _hits);

    public void Dispose() => _listener.Dispose();
}

[Collection(PartCacheOnCluster.Name)]
public sealed class PartCacheOnTests(PartCacheOnFixture fixture)
{
    [Fact]
    public async Task Thirty_two_readers_of_one_snapshot_read_each_part_from_storage_once()
    {
        var shard = ClusterFixture.NewShard("many-readers");
        await fixture.WriteAsync(shard, 3);

        var (parts, reads, hits) = await fixture.ReadTogetherAsync(shard, 2, 32);

        Assert.Equal(3, parts.Count);
        Assert.Equal([1, 1, 1], parts.Select(fixture.Downloads.Of));
        Assert.Equal((3L, 31L * 3), (reads, hits));
    }

    [Fact]
    public async Task A_failed_part_read_is_not_kept_and_the_next_read_goes_to_storage()
    {
        var shard = ClusterFixture.NewShard("failed-read");
        await fixture.WriteAsync(shard, 1);
        await using var reader = await fixture.Shards.OpenReaderAsync(shard);
        var part = Assert.Single((await reader.SnapshotAsync(0)).Parts);

        fixture.Downloads.FailNext(part.Name);
        await Assert.ThrowsAsync<ShardStorageException>(() => reader.FetchPartAsync(part));
        Assert.False(fixture.Silo<PartCache>().Contains(part.Name));

        Assert.Equal([At(0, "k0")], (await reader.FetchPartAsync(part)).ToArray());
        Assert.Equal([At(0, "k0")], (await reader.FetchPartAsync(part)).ToArray());
        Assert.Equal(1, fixture.Downloads.Of(part.Name)); // the failed download never reached storage; the last was a hit
    }

    [Fact]
    public async Task A_deleted_part_leaves_the_cache_and_no_longer_reads()
    {
        var shard = ClusterFixture.NewShard("deleted-part");
        await fixture.WriteAsync(shard, 1);
        await using var reader = await fixture.Shards.OpenReaderAsync(shard);
        var part = Assert.Single((await reader.SnapshotAsync(0)).Parts);
        await reader.FetchPartAsync(part);
        var store = fixture.Silo<PartStore>();

        await store.DeleteAsync(part);

        Assert.False(fixture.Silo<PartCache>().Contains(part.Name));
        await Assert.ThrowsAsync<ShardStorageException>(() => store.ReadAsync(part));
    }
}

[Collection(PartCacheOffCluster.Name)]
public sealed class PartCacheOffTests(PartCacheOffFixture fixture)
{
    [Fact]
    public async Task With_the_cache_off_every_read_of_a_part_goes_to_storage()
    {
        var shard = ClusterFixture.NewShard("no-cache");
        await fixture.WriteAsync(shard, 3);

        var (parts, reads, hits) = await fixture.ReadTogetherAsync(shard, 2, 32);

        Assert.Equal([32, 32, 32], parts.Select(fixture.Downloads.Of));
        Assert.Equal((3L * 32, 0L), (reads, hits));
    }
}
