using System.Collections.Immutable;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Leases.Shards;
using Orleans.Serialization;

namespace Orleans.Leases.ClientApp;

/// <summary>
/// What one shard state write costs in each encoding, on states built in memory (no cluster): the bytes written, per
/// reader, and per sync when every reader's heartbeat shares the write, and the CPU time to serialize the state and
/// read it back. JSON is the encoding of states stored before; binary is Orleans' (<see cref="ShardStateSerializer"/>).
/// </summary>
internal static class StateBench
{
    private static readonly int[] ReaderCounts = [10, 100, 1_000, 10_000];
    private static readonly int[] BatchCounts = [10, 1_000];
    private static readonly string[] Purposes = ["indexer", "backup", "replica", "audit"];
    private const int ReadersPerClient = 10; // a client process opens many readers, each with its own observer
    private const int RetiredParts = 16; // parts of the last compaction, waiting for the holds to pass
    private const int Rounds = 5;
    private static readonly TimeSpan Budget = TimeSpan.FromMilliseconds(200); // per measured round

    public static int Run(bool json)
    {
        var serializer = new ServiceCollection()
            .AddSerializer(builder => builder.AddAssembly(typeof(ShardState).Assembly))
            .BuildServiceProvider()
            .GetRequiredService<Serializer>();
        var binary = new ShardStateSerializer(serializer);
        var encodings = new (string Name, Func<ShardState, BinaryData> Write)[]
        {
            ("json", ShardStateSerializer.ToJson),
            ("binary", state => binary.Serialize(state)),
        };

        // Both encodings' code at its final JIT tier before anything is measured.
        Output.Progress(json, "warming up...");
        var warm = Build(100, 10, seed: 1);
        for (var round = 0; round < 2; round++)
        {
            foreach (var (_, write) in encodings)
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                while (clock.Elapsed < 2 * Budget) binary.Deserialize<ShardState>(write(warm));
            }
            Thread.Sleep(500); // tier-1 code is compiled in the background
        }

        var rows = new List<Row>();
        foreach (var batches in BatchCounts)
        foreach (var readers in ReaderCounts)
        {
            var state = Build(readers, batches, seed: readers * 31 + batches);
            var withoutReaders = state with { Readers = ReaderTable.Empty };
            foreach (var (name, write) in encodings)
            {
                var bytes = write(state);
                var readBack = binary.Deserialize<ShardState>(bytes)!; // JSON is read as stored states are
                if (readBack.Readers.Count != readers || readBack.Batches.Count != batches || readBack.Violations().Count > 0)
                    throw new InvalidOperationException($"{name} did not read back the state it wrote");
                var serialize = CpuPerCall(() => write(state));
                var deserialize = CpuPerCall(() => binary.Deserialize<ShardState>(bytes));
                var row = new Row(name, readers, batches, bytes.ToMemory().Length,
                    (bytes.ToMemory().Length - write(withoutReaders).ToMemory().Length) / (double)readers,
                    bytes.ToMemory().Length / (double)readers,
                    Math.Round(serialize.TotalMicroseconds), Math.Round(deserialize.TotalMicroseconds));
                rows.Add(row);
                Output.Progress(json, row.ToString());
            }
        }

        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                readersPerClient = ReadersPerClient,
                cpuRounds = Rounds,
                compactedKeys = ShardState.CompactedKeysKept,
                retiredParts = RetiredParts,
                states = rows.Select(r => new
                {
                    encoding = r.Encoding,
                    readers = r.Readers,
                    batches = r.Batches,
                    stateBytes = r.StateBytes,
                    bytesPerReader = Math.Round(r.BytesPerReader, 1),
                    bytesPerSync = Math.Round(r.BytesPerSync, 1),
                    serializeMicroseconds = r.SerializeUs,
                    deserializeMicroseconds = r.DeserializeUs,
                    cpuMicrosecondsPerWrite = r.SerializeUs + r.DeserializeUs,
                }),
            }, Output.Json));
            return 0;
        }

        Console.WriteLine();
        Console.WriteLine($"{"readers",8} {"batches",8} {"encoding",-8} {"state B",11} {"B/reader",9} {"B/sync",9} {"ser µs",9} {"de µs",9} {"CPU µs/write",13}");
        foreach (var r in rows)
            Console.WriteLine($"{r.Readers,8:N0} {r.Batches,8:N0} {r.Encoding,-8} {r.StateBytes,11:N0} {r.BytesPerReader,9:N0} {r.BytesPerSync,9:N0} " +
                              $"{r.SerializeUs,9:N0} {r.DeserializeUs,9:N0} {r.SerializeUs + r.DeserializeUs,13:N0}");
        Console.WriteLine($"B/reader: bytes a reader adds; B/sync: state bytes / readers, when every reader's heartbeat shares the write. " +
                          $"Each state also holds {ShardState.CompactedKeysKept} compacted keys and {RetiredParts} retired parts. " +
                          $"CPU: process time, least of {Rounds} rounds.");
        return 0;
    }

    private sealed record Row(string Encoding, int Readers, int Batches, int StateBytes, double BytesPerReader, double BytesPerSync,
        double SerializeUs, double DeserializeUs)
    {
        public override string ToString() =>
            $"{Readers} readers, {Batches} batches, {Encoding}: {StateBytes} B, {BytesPerReader:F0} B/reader, {SerializeUs + DeserializeUs} µs CPU/write";
    }

    /// <summary>A long-lived shard's state: <paramref name="batches"/> batches of one part each, the last compaction's
    /// retired parts and kept keys, and <paramref name="readers"/> readers as lease grains register and sync them.</summary>
    private static ShardState Build(int readers, int batches, int seed)
    {
        var random = new Random(seed);
        var shard = $"orders-{random.Next(1000):D3}";
        string PartName() => $"{shard}/{Guid.NewGuid():N}.json";
        var upper = (ulong)batches * 1_000;
        var seqNo = (ulong)(batches + 2 * readers + 5_000);
        var now = DateTimeOffset.UtcNow;

        var batchList = Enumerable.Range(0, batches).Select(i => new Batch(Frontier.At((ulong)i * 1_000), Frontier.At((ulong)(i + 1) * 1_000),
            [new PartRef(PartName(), random.Next(1_000, 1_000_000), random.Next(1, 5_000))], Guid.NewGuid().ToString("N"))).ToImmutableList();
        var table = ReaderTable.Empty;
        var clients = new List<Guid>();
        for (var i = 0; i < readers; i++)
        {
            if (i % ReadersPerClient == 0) clients.Add(Guid.NewGuid());
            var since = upper - (ulong)random.Next(0, 10_000);
            var leases = ImmutableSortedDictionary<ulong, ulong>.Empty;
            var nextLease = (ulong)random.Next(1, 500);
            for (var l = 0; l < i % 3; l++) // 0–2 outstanding leases
                leases = leases.Add(nextLease++, seqNo - (ulong)random.Next(1, 100));
            table = table.SetItem(ReaderId.NewId().Value, new ReaderState
            {
                Since = Frontier.At(since),
                SeqNoHold = leases.IsEmpty ? seqNo - (ulong)random.Next(0, 50) : leases.Values.Min(),
                LastHeartbeat = now - TimeSpan.FromTicks(random.NextInt64(TimeSpan.FromSeconds(15).Ticks)),
                LeaseDuration = TimeSpan.FromSeconds(60),
                HeartbeatInterval = TimeSpan.FromSeconds(15),
                Purpose = Purposes[i % Purposes.Length],
                Leases = leases,
                NextLeaseId = nextLease,
                Client = GrainId.Create("sys.client", $"{clients[^1]:N}+{Guid.NewGuid():N}").ToString(),
                SecretHash = ReaderSecret.New().Hash(),
            });
        }
        return new ShardState
        {
            SeqNo = seqNo,
            Upper = Frontier.At(upper),
            Since = table.IsEmpty ? Frontier.At(upper / 2) : table.MinSince,
            Batches = batchList,
            Readers = table,
            CompactedKeys = [.. Enumerable.Range(0, ShardState.CompactedKeysKept).Select(i => CompactedKey.Of(Guid.NewGuid().ToString("N"), Frontier.At((ulong)i)))],
            Retired = [.. Enumerable.Range(0, RetiredParts).Select(_ => new RetiredPart(new PartRef(PartName(), random.Next(1_000, 1_000_000), 10), seqNo - 1))],
        };
    }

    /// <summary>The process CPU time (its garbage collection included) of one call of <paramref name="work"/>: the
    /// least of <see cref="Rounds"/> rounds, each of as many calls as fit <see cref="Budget"/> (at least 2), so what
    /// else runs on the machine counts as little as it can.</summary>
    private static TimeSpan CpuPerCall(Action work)
    {
        work();
        var best = TimeSpan.MaxValue;
        for (var round = 0; round < Rounds; round++)
        {
            GC.Collect();
            var start = Environment.CpuUsage.TotalTime;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var calls = 0;
            while (calls < 2 || clock.Elapsed < Budget)
            {
                work();
                calls++;
            }
            var perCall = (Environment.CpuUsage.TotalTime - start) / calls;
            if (perCall < best) best = perCall;
        }
        return best;
    }
}
