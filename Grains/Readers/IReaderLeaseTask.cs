using Orleans.Concurrency;

namespace Orleans.Leases.Readers;

/// <summary>The lease grain's background task, as its shard reaches it (checked from the caller's id).</summary>
[Alias("Leases.IReaderLeaseTask")]
internal interface IReaderLeaseTask : IGrainWithStringKey
{
    /// <summary>Wakes the grain (reactivating it with the durable state if its silo died); sent by the shard's sweep.</summary>
    [OneWay, Alias("Wake")]
    Task Wake();
}
