using System.Collections.Immutable;
using Orleans.Leases.Hosting;
using Orleans.Leases.Parts;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Parts;

/// <summary>The part cache alone: its budget, its order, what it shares and what it forgets.</summary>
public sealed class PartCacheTests
{
    [Fact]
    public async Task The_cache_stays_within_its_bytes_and_evicts_the_least_recently_used_part()
    {
        var cache = new PartCache(100);
        await Read(cache, "a", 40);
        await Read(cache, "b", 40);
        await Read(cache, "a", 40); // a is now more recent than b

        await Read(cache, "c", 40);

        Assert.Equal((80L, 2), (cache.Bytes, cache.Count));
        Assert.True(cache.Contains("a") && cache.Contains("c"));
        Assert.False(cache.Contains("b"));
    }

    [Fact]
    public async Task Parts_are_sized_by_their_stored_bytes_as_read()
    {
        var cache = new PartCache(100);
        for (var i = 0; i < 10; i++) await Read(cache, $"p{i}", 30);

        Assert.Equal((90L, 3), (cache.Bytes, cache.Count));
        Assert.True(cache.Contains("p7") && cache.Contains("p8") && cache.Contains("p9"));
    }

    [Fact]
    public async Task A_part_larger_than_the_cache_is_read_but_not_kept_and_evicts_nothing()
    {
        var cache = new PartCache(100);
        await Read(cache, "small", 60);

        Assert.Equal(Updates("big").ToArray(), (await Read(cache, "big", 101)).ToArray());

        Assert.Equal((60L, 1), (cache.Bytes, cache.Count));
        Assert.True(cache.Contains("small"));
    }

    [Fact]
    public async Task Readers_asking_at_once_for_a_part_share_one_read()
    {
        var cache = new PartCache(1000);
        var storage = new TaskCompletionSource<StoredPart>();
        var reads = 0;
        var hits = 0;

        var readers = Enumerable.Range(0, 32).Select(_ =>
        {
            var updates = cache.GetOrRead("p", () => { Interlocked.Increment(ref reads); return storage.Task; }, out var hit);
            if (hit) hits++;
            return updates;
        }).ToList();
        storage.SetResult(new StoredPart(Updates("p"), 10));

        foreach (var updates in await Task.WhenAll(readers)) Assert.Equal(Updates("p").ToArray(), updates.ToArray());
        Assert.Equal((1, 31), (reads, hits));
        Assert.Equal(10L, cache.Bytes);
    }

    [Fact]
    public async Task A_failed_read_fails_its_waiters_and_is_not_kept()
    {
        var cache = new PartCache(1000);
        var storage = new TaskCompletionSource<StoredPart>();
        var first = cache.GetOrRead("p", () => storage.Task, out _);
        var joined = cache.GetOrRead("p", () => throw new InvalidOperationException("not asked"), out var joinedHit);
        storage.SetException(new ShardStorageException("s", "down"));

        await Assert.ThrowsAsync<ShardStorageException>(() => first);
        await Assert.ThrowsAsync<ShardStorageException>(() => joined);
        Assert.True(joinedHit);
        Assert.False(cache.Contains("p"));

        Assert.Equal(Updates("p").ToArray(), (await Read(cache, "p", 10, expectRead: true)).ToArray());
        Assert.Equal((10L, 1), (cache.Bytes, cache.Count));
    }

    [Fact]
    public async Task A_removed_part_gives_back_its_bytes_and_is_read_again()
    {
        var cache = new PartCache(1000);
        await Read(cache, "p", 10);

        cache.Remove("p");

        Assert.Equal((0L, 0), (cache.Bytes, cache.Count));
        await Read(cache, "p", 10, expectRead: true);
    }

    [Fact]
    public async Task A_part_removed_while_it_is_read_is_not_kept()
    {
        var cache = new PartCache(1000);
        var storage = new TaskCompletionSource<StoredPart>();
        var reading = cache.GetOrRead("p", () => storage.Task, out _);

        cache.Remove("p");
        storage.SetResult(new StoredPart(Updates("p"), 10));

        Assert.Equal(Updates("p").ToArray(), (await reading).ToArray());
        Assert.Equal((0L, 0), (cache.Bytes, cache.Count));
    }

    [Fact]
    public async Task With_no_bytes_every_read_goes_to_storage()
    {
        var cache = new PartCache(0);
        var reads = 0;

        for (var i = 0; i < 3; i++)
        {
            await cache.GetOrRead("p", () => { reads++; return Task.FromResult(new StoredPart(Updates("p"), 10)); }, out var hit);
            Assert.False(hit);
        }

        Assert.Equal((3, 0), (reads, cache.Count));
    }

    [Theory]
    [InlineData(-1L)]
    [InlineData(64L * 1024 * 1024 * 1024 + 1)]
    public void A_part_cache_size_out_of_range_is_refused_naming_the_setting(long bytes)
    {
        var result = new ShardServiceOptionsValidator().Validate(null, new ShardServiceOptions { PartCacheBytes = bytes });

        Assert.Contains($"Leases:PartCacheBytes must be 0–{64L * 1024 * 1024 * 1024}, not {bytes}", result.FailureMessage);
    }

    private static ImmutableArray<Update> Updates(string part) => [At(0, part)];

    /// <summary>Reads <paramref name="name"/> through the cache from a storage holding <paramref name="bytes"/> of it;
    /// <paramref name="expectRead"/> says whether storage must be asked (null: either).</summary>
    private static async Task<ImmutableArray<Update>> Read(PartCache cache, string name, long bytes, bool? expectRead = null)
    {
        var read = false;
        var updates = await cache.GetOrRead(name, () => { read = true; return Task.FromResult(new StoredPart(Updates(name), bytes)); }, out var hit);
        Assert.Equal(read, !hit);
        if (expectRead is { } expected) Assert.Equal(expected, read);
        return updates;
    }
}
