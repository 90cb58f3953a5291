using System.Security.Cryptography;
using System.Text;
using Azure.Storage.Blobs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Leases.Parts;
using Orleans.Leases.Readers;
using Orleans.Leases.Shards;
using Orleans.Runtime;
using RequestFailedException = Azure.RequestFailedException;

namespace Orleans.Leases.Hosting;

/// <summary>
/// Who may make an internal call (S8): the grain that sent it. The sending grain on a message is written by the
/// sender's own runtime, and a hostile client's runtime can write any grain there, so each internal call also carries
/// a proof that it left a silo as that grain: an HMAC over (target, method, sender) keyed by a secret the silos share
/// through storage and clients never see. A refusal changes nothing.
/// </summary>
internal sealed class Callers([FromKeyedServices(ShardStorage.Name)] BlobServiceClient blobs, IOptions<ShardServiceOptions> options) : IOutgoingGrainCallFilter
{
    internal const string ProofKey = "Orleans.Leases.CallProof";
    private const string KeyBlob = "orleans-leases-call-key";

    /// <summary>The service's internal interfaces: each accepted only from its owning grain, with a proof.</summary>
    private static readonly HashSet<Type> Internal =
        [typeof(IShardReaders), typeof(IShardAppends), typeof(IShardMaintenance), typeof(ICompactorGrain), typeof(IReaderLeaseTask)];

    private Task<byte[]>? _key;

    public static bool IsCallTo<TInterface>(IIncomingGrainCallContext call) => call.Request.GetInterfaceType() == typeof(TInterface);

    /// <summary>Signs an internal call as it leaves this silo.</summary>
    // Not async: a plain heartbeat's sync is held at its shard for up to an interval, so a state machine here would be
    // kept once per reader. The proof is set in the request context before call.Invoke() and removed after it returns:
    // the later stages run within it, and one that awaits resumes in the context it captured, proof included.
    public Task Invoke(IOutgoingGrainCallContext call)
    {
        if (call.SourceId is not { } source || !Internal.Contains(call.Request.GetInterfaceType()))
        {
            // A proof in this flow is another call's (an activation runs with its first message's request context;
            // a silo-wide filter may call out before the grain's own check): it never leaves with this one.
            RequestContext.Remove(ProofKey);
            return call.Invoke();
        }
        var key = KeyAsync();
        return key.IsCompletedSuccessfully ? SignedInvoke(call, key.Result, source) : SignedInvokeAsync(call, key, source);
    }

    private static Task SignedInvoke(IOutgoingGrainCallContext call, byte[] key, GrainId source)
    {
        RequestContext.Set(ProofKey, Sign(key, call.TargetId, call.InterfaceName, call.MethodName, source));
        try
        {
            return call.Invoke();
        }
        finally
        {
            RequestContext.Remove(ProofKey); // it proves this call only; it must not ride along on later ones
        }
    }

    private static async Task SignedInvokeAsync(IOutgoingGrainCallContext call, Task<byte[]> key, GrainId source) =>
        await SignedInvoke(call, await key, source);

    /// <summary>Invokes <paramref name="call"/> once <paramref name="check"/> passed; without a state machine when it
    /// passed at once (the usual case), as calls held at a shard would keep one each.</summary>
    public static Task InvokeAfter(Task check, IIncomingGrainCallContext call) =>
        check.IsCompletedSuccessfully ? call.Invoke() : InvokeAfterAsync(check, call);

    private static async Task InvokeAfterAsync(Task check, IIncomingGrainCallContext call)
    {
        await check;
        await call.Invoke();
    }

    /// <summary>Refuses <paramref name="call"/> unless it came from <paramref name="allowed"/>, proven.</summary>
    public Task RequireAsync(IIncomingGrainCallContext call, GrainId allowed, string who) =>
        RequireAsync(call, call.SourceId == allowed, who);

    /// <summary>Refuses <paramref name="call"/> unless it came from a grain of type <paramref name="allowed"/>, proven.</summary>
    public Task RequireTypeAsync(IIncomingGrainCallContext call, GrainType allowed, string who) =>
        RequireAsync(call, call.SourceId?.Type == allowed, who);

    private Task RequireAsync(IIncomingGrainCallContext call, bool fromAllowed, string who)
    {
        // Taken out of the request context here, not in an async method (which restores the caller's context when it
        // returns): the proof is for this call only and must not ride along on the calls it makes.
        var proof = RequestContext.Get(ProofKey) as string;
        RequestContext.Remove(ProofKey);
        return VerifyAsync(call, proof, fromAllowed, who);
    }

    private async Task VerifyAsync(IIncomingGrainCallContext call, string? proof, bool fromAllowed, string who)
    {
        var key = await KeyAsync();
        if (!fromAllowed || proof is null || call.SourceId is not { } source
            || !CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(proof),
                Encoding.ASCII.GetBytes(Sign(key, call.TargetId, call.InterfaceName, call.MethodName, source))))
            throw new AccessDeniedException(
                $"{call.InterfaceName}.{call.MethodName} is internal to the shard service: it is accepted only from {who}, " +
                $"not from {call.SourceId?.ToString() ?? "an unknown caller"}.");
    }

    private static string Sign(byte[] key, GrainId target, string interfaceName, string method, GrainId source) =>
        Convert.ToBase64String(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"{target}|{interfaceName}.{method}|{source}")));

    /// <summary>The silos' shared key: made by the first silo that needs it, read by the others. A failed load is
    /// tried again by the next call.</summary>
    private Task<byte[]> KeyAsync()
    {
        var key = _key;
        if (key is { IsFaulted: false, IsCanceled: false }) return key;
        return _key = LoadOrCreateKeyAsync();
    }

    private async Task<byte[]> LoadOrCreateKeyAsync()
    {
        var container = blobs.GetBlobContainerClient(options.Value.StateContainer);
        await container.CreateIfNotExistsAsync();
        var blob = container.GetBlobClient(KeyBlob);
        try
        {
            await blob.UploadAsync(new BinaryData(RandomNumberGenerator.GetBytes(32)), overwrite: false);
        }
        catch (RequestFailedException error) when (error.Status == 409)
        {
            // Another silo made it first.
        }
        return (await blob.DownloadContentAsync()).Value.Content.ToArray();
    }
}
