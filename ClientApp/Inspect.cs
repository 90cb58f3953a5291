using System.Text.Json;

namespace Orleans.Leases.ClientApp;

internal static class Inspect
{
    public static async Task<int> RunAsync(Cluster cluster, string shardId, bool json)
    {
        var info = await cluster.Shards.InspectAsync(new ShardId(shardId));
        Console.WriteLine(json
            ? JsonSerializer.Serialize(info, Output.Json)
            : $"shard {shardId}: seqno {info.SeqNo}, since {info.Since}, upper {info.Upper}, " +
              $"{info.Batches} batches, {info.Parts} parts, {info.PartBytes} part bytes, {info.Readers} readers");
        return 0;
    }
}

internal static class Output
{
    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>A progress line: on stderr when stdout carries JSON.</summary>
    public static void Progress(bool json, string line)
    {
        if (json) Console.Error.WriteLine(line);
        else Console.WriteLine(line);
    }
}
