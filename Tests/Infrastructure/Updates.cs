using Orleans.Leases.Shards;

namespace Orleans.Leases.Tests.Infrastructure;

internal static class U
{
    public static Update At(ulong time, string key, string value = "v", long diff = 1) => new(key, value, time, diff);

    public static Frontier F(ulong time) => Frontier.At(time);

    /// <summary>The client observer of the pure tests' readers.</summary>
    public static readonly GrainId TestClient = GrainId.Create("test-client", "1");

    /// <summary>Registers <paramref name="reader"/> as its lease grain would, with a secret hash of its own.</summary>
    public static RegisterReader Register(ReaderId reader, LeaseSettings settings) =>
        new(reader, settings, TestClient, $"hash-of-{reader.Value}");
}
