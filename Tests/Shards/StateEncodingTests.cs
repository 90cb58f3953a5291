using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Leases.Hosting;
using Orleans.Leases.Shards;
using Orleans.Leases.Tests.Infrastructure;
using Orleans.Storage;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Shards;

/// <summary>One silo with a second Azure blob storage provider beside the shards', as a host with storage of its own
/// would have; compaction off, so a shard's state changes only by what a test does.</summary>
public sealed class StateEncodingFixture : ClusterFixture
{
    public const string OtherStorage = "other";
    public const string OtherContainer = "other-state";

    protected override ShardServiceOptions CreateOptions()
    {
        var options = base.CreateOptions();
        options.CompactionMinBatches = int.MaxValue; // never reached
        return options;
    }

    protected override void ConfigureSilo(ISiloBuilder silo) =>
        silo.AddAzureBlobGrainStorage(OtherStorage, o =>
        {
            o.BlobServiceClient = ShardStorage.CreateBlobServiceClient(ConnectionString);
            o.ContainerName = OtherContainer;
        });
}

[CollectionDefinition(Name)]
public sealed class StateEncodingCluster : ICollectionFixture<StateEncodingFixture>
{
    public const string Name = "state encoding cluster";
}

/// <summary>A state of another provider.</summary>
public sealed class Probe
{
    public string Name { get; set; } = "";

    public int Count { get; set; }
}

[Collection(StateEncodingCluster.Name)]
public sealed class StateEncodingTests(StateEncodingFixture fixture)
{
    [Fact]
    public async Task A_state_with_readers_leases_batches_retired_parts_and_compacted_keys_round_trips_exactly()
    {
        var shard = ClusterFixture.NewShard("encoding");
        var state = FullState(shard, new DateTimeOffset(2026, 11, 25, 23, 15, 49, TimeSpan.Zero).AddTicks(1_234_567));
        Assert.Empty(state.Violations());
        Assert.Equal(ShardState.CompactedKeysKept, state.CompactedKeys.Count);

        await fixture.ShardStateStorage.WriteStateAsync("shard", GrainOf(shard), new GrainState<ShardState>(state));
        var stored = await StoredBytesAsync(shard);
        var (read, _) = await fixture.PersistedAsync(shard);

        Assert.NotEqual((byte)'{', stored[0]); // binary, not JSON
        Assert.True(stored.Length < OldJson(state).ToArray().Length, $"{stored.Length} B stored, {OldJson(state).ToArray().Length} B as JSON");
        AssertSame(state, read);
    }

    [Fact]
    public async Task A_state_stored_as_json_is_read_and_rewritten_in_the_binary_encoding()
    {
        var shard = ClusterFixture.NewShard("json-state");
        // Live readers that no sweep wakes while the test runs: a long lease and heartbeat interval.
        var old = FullState(shard, DateTimeOffset.UtcNow, new LeaseSettings { LeaseDuration = TimeSpan.FromDays(1), HeartbeatInterval = TimeSpan.FromHours(6) });
        await fixture.ShardStateStorage.WriteStateAsync("shard", GrainOf(shard), new GrainState<ShardState>(old));
        var blob = StateBlob(shard);
        Assert.True(await blob.ExistsAsync()); // the provider's blob name
        // As the shard service stored states before: Orleans' System.Text.Json grain storage serializer.
        var oldSerializer = ActivatorUtilities.CreateInstance<SystemTextJsonGrainStorageSerializer>(fixture.Cluster.GetSiloServiceProvider());
        await blob.UploadAsync(oldSerializer.Serialize(old), overwrite: true);
        Assert.Equal((byte)'{', (await StoredBytesAsync(shard))[0]);

        var (read, _) = await fixture.PersistedAsync(shard);
        AssertSame(old, read);

        // The shard grain loads the JSON state, and its next write is binary.
        var result = await fixture.Shards.Writer(shard).CompareAndAppendAsync([At(old.Upper.Time, "after")], old.Upper, F(old.Upper.Time + 1), "after-json");
        Assert.Equal(AppendOutcome.Applied, result.Outcome);
        Assert.Equal(old.SeqNo + 1, result.SeqNo);

        Assert.NotEqual((byte)'{', (await StoredBytesAsync(shard))[0]);
        var (rewritten, _) = await fixture.PersistedAsync(shard);
        AssertSame(old with { SeqNo = old.SeqNo + 1, Upper = F(old.Upper.Time + 1), Batches = rewritten.Batches }, rewritten);
        Assert.Equal(old.Batches.Count + 1, rewritten.Batches.Count);
        Assert.Equal(Render(old.Batches), Render(rewritten.Batches.RemoveAt(old.Batches.Count)));
    }

    [Fact]
    public async Task Another_storage_provider_of_the_silo_keeps_the_silos_default_serializer()
    {
        var services = fixture.Cluster.GetSiloServiceProvider();
        var other = services.GetRequiredKeyedService<IGrainStorage>(StateEncodingFixture.OtherStorage);
        var id = GrainId.Create("probe", Guid.NewGuid().ToString("N"));
        var probe = new Probe { Name = "other", Count = 3 };

        await other.WriteStateAsync("probe", id, new GrainState<Probe>(probe));

        // Orleans' default grain storage serializer, untouched by the shard service's.
        Assert.IsType<JsonGrainStorageSerializer>(services.GetRequiredService<IGrainStorageSerializer>());
        Assert.IsType<JsonGrainStorageSerializer>(
            services.GetRequiredService<IOptionsMonitor<AzureBlobStorageOptions>>().Get(StateEncodingFixture.OtherStorage).GrainStorageSerializer);
        var expected = ActivatorUtilities.CreateInstance<JsonGrainStorageSerializer>(services).Serialize(probe);
        var stored = (await fixture.Blobs.GetBlobContainerClient(StateEncodingFixture.OtherContainer).GetBlobClient($"probe-{id}.json")
            .DownloadContentAsync()).Value.Content;
        Assert.Equal(expected.ToString(), stored.ToString());
        var read = new GrainState<Probe>();
        await other.ReadStateAsync("probe", id, read);
        Assert.Equal(("other", 3), (read.State!.Name, read.State.Count));
    }

    /// <summary>A state as a busy shard has it: 300 appends, the oldest 290 compacted (their parts retired, the last
    /// 256 keys kept), and readers of several clients, purposes and secret kinds, holding leases at several seqnos.</summary>
    private static ShardState FullState(ShardId shard, DateTimeOffset now, LeaseSettings? lease = null)
    {
        lease ??= new LeaseSettings { LeaseDuration = TimeSpan.FromSeconds(60) };
        var client = Guid.NewGuid();
        GrainId Observer() => GrainId.Create("sys.client", $"{client:N}+{Guid.NewGuid():N}");
        PartRef Part(ulong t) => new($"{shard.Value}/{Guid.NewGuid():N}.json", 100 + (long)t, 1 + (int)(t % 3));
        ShardState Apply<TAnswer>(ShardState s, ShardCommand<TAnswer> command, TimeSpan? at = null) =>
            Assert.IsType<Outcome<TAnswer>.Applied>(s.Apply(command, now + (at ?? TimeSpan.Zero))).Next;

        var state = new ShardState();
        // Registered before the compaction and never synced: its seqno hold keeps every retired part.
        state = Apply(state, new RegisterReader(new("early"), lease with { Purpose = "backfill" }, Observer(), ReaderSecret.New().Hash()));
        for (var t = 0UL; t < 300; t++)
            state = Apply(state, new AppendBatch(new Batch(F(t), F(t + 1), [Part(t)], $"key-{t}"), F(t)));
        state = Apply(state, new CompactBatches([.. state.Batches.Take(290)], [Part(1000)]));

        state = Apply(state, new RegisterReader(new("indexer-1"), lease with { Purpose = "indexer" }, Observer(), ReaderSecret.New().Hash()), TimeSpan.FromSeconds(-3));
        state = Apply(state, new RegisterReader(new("indexer-2"), lease with { Purpose = "indexer" }, Observer(), ReaderSecret.New().Hash()));
        state = Apply(state, new RegisterReader(new("plain"), lease, TestClient, "hash-of-plain"), TimeSpan.FromTicks(7));
        state = Apply(state, new RegisterReader(new("elsewhere"), lease with { Purpose = "ü → ✓" }, Observer(), ReaderSecret.New().Hash().ToLowerInvariant()));
        state = Apply(state, new SyncReader(new("indexer-1"), F(120), []), TimeSpan.FromMilliseconds(1.5));
        state = Apply(state, new SyncReader(new("indexer-2"), F(250), []));
        state = Apply(state, new SyncReader(new("plain"), F(200), []));
        state = Apply(state, new LeaseSnapshot(new("indexer-1"), F(120), 260));
        state = Apply(state, new LeaseSnapshot(new("indexer-1"), F(120), 270));
        state = Apply(state, new LeaseSnapshot(new("indexer-2"), F(250), 299));
        // A heartbeat stamped in another offset: stored with it.
        state = Apply(state, new SyncReader(new("elsewhere"), F(10), []), TimeSpan.FromSeconds(1));
        return state with { Readers = state.Readers.SetItem("elsewhere", state.Readers["elsewhere"] with { LastHeartbeat = (now + TimeSpan.FromSeconds(1)).ToOffset(TimeSpan.FromHours(5.5)) }) };
    }

    /// <summary>Equal field by field, and the reader table's minima as a table built reader by reader has them.</summary>
    private static void AssertSame(ShardState expected, ShardState actual)
    {
        Assert.Equal(OldJson(expected).ToString(), OldJson(actual).ToString());
        Assert.Empty(actual.Violations());
        Assert.Equal(expected.Readers.MinSince, actual.Readers.MinSince);
        Assert.Equal(expected.Readers.MinSeqNoHold(ulong.MaxValue), actual.Readers.MinSeqNoHold(ulong.MaxValue));
        Assert.Equal(expected.SeqNoSince, actual.SeqNoSince);
        foreach (var id in expected.Readers.Keys)
        {
            Assert.Equal(expected.Readers.MinSinceOfOthers(id), actual.Readers.MinSinceOfOthers(id));
            var lapse = expected.Readers[id].LastHeartbeat + expected.Readers[id].LeaseDuration;
            Assert.Equal(expected.Readers.AnyLapsed(lapse), actual.Readers.AnyLapsed(lapse));
            Assert.Equal(expected.Readers.AnyLapsed(lapse + TimeSpan.FromTicks(1)), actual.Readers.AnyLapsed(lapse + TimeSpan.FromTicks(1)));
        }
    }

    /// <summary>The state as System.Text.Json grain storage wrote it (the options of Orleans' serializer for it).</summary>
    private static BinaryData OldJson<T>(T state) => BinaryData.FromObjectAsJson(state, OldJsonOptions);

    private static string Render<T>(T value) => OldJson(value).ToString();

    private static readonly JsonSerializerOptions OldJsonOptions = new()
    {
        IncludeFields = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private GrainId GrainOf(ShardId shard) => fixture.Client.GetGrain<IShardGrain>(shard.Value).GetGrainId();

    /// <summary>The blob a shard's state is kept in, as every version named it (Orleans' <c>{state name}-{grain id}.json</c>
    /// with the grain type the shard grain had before its type name took the product's prefix).</summary>
    private Azure.Storage.Blobs.BlobClient StateBlob(ShardId shard) =>
        fixture.Blobs.GetBlobContainerClient(fixture.Options.StateContainer).GetBlobClient($"shard-shard/{shard.Value}.json");

    private async Task<byte[]> StoredBytesAsync(ShardId shard) => (await StateBlob(shard).DownloadContentAsync()).Value.Content.ToArray();
}
