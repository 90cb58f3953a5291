using Orleans.Runtime;
using Orleans.Storage;

namespace Orleans.Leases.Hosting;

/// <summary>
/// Stores each shard's state under an id of the shard's own (type <c>shard</c>, the shard's key: blob
/// <c>shard-shard/{key}.json</c>) instead of the grain's, whose type name may change: state stored before a rename is
/// found after it.
/// </summary>
internal sealed class ShardStateStorage(IGrainStorage blobs) : IGrainStorage
{
    private static readonly GrainType StoredType = GrainType.Create("shard");

    public static GrainId StoredId(GrainId grain) => GrainId.Create(StoredType, grain.Key);

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        blobs.ReadStateAsync(stateName, StoredId(grainId), grainState);

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        blobs.WriteStateAsync(stateName, StoredId(grainId), grainState);

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        blobs.ClearStateAsync(stateName, StoredId(grainId), grainState);
}
