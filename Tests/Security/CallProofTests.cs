using System.Reflection;
using Microsoft.Extensions.Options;
using Orleans.Leases.Hosting;
using Orleans.Leases.Shards;
using Orleans.Leases.Tests.Infrastructure;
using Orleans.Runtime;
using Orleans.Serialization.Invocation;

namespace Orleans.Leases.Tests.Security;

/// <summary>An internal call's proof (see <see cref="Callers"/>) proves that call only: the grain that checked it does
/// not pass it on, and the grain that signed it does not keep it for its next calls.</summary>
public sealed class CallProofTests
{
    private static readonly GrainId Shard = GrainId.Create("leases.shard", "proof-shard");
    private static readonly GrainId LeaseGrain = GrainId.Create("leases.reader-lease", "proof-shard/r");

    private readonly Callers _callers = new(ShardStorage.CreateBlobServiceClient(ClusterFixture.ConnectionString),
        Options.Create(new ShardServiceOptions { StorageConnectionString = ClusterFixture.ConnectionString }));

    [Fact]
    public async Task A_proof_signed_for_a_call_is_accepted_and_then_gone_from_both_sides()
    {
        // Signed as the call leaves the lease grain: the message takes the proof within Invoke.
        string? proof = null;
        var outgoing = FakeCall.Of<IOutgoingGrainCallContext>(LeaseGrain, Shard, onInvoke: () => proof = RequestContext.Get(Callers.ProofKey) as string);
        await _callers.Invoke(outgoing);
        Assert.NotNull(proof);
        Assert.Null(RequestContext.Get(Callers.ProofKey)); // not on the signing grain's later calls

        // Checked as the call arrives at the shard.
        RequestContext.Set(Callers.ProofKey, proof!);
        var check = _callers.RequireAsync(FakeCall.Of<IIncomingGrainCallContext>(LeaseGrain, Shard), LeaseGrain, "the lease grain");
        Assert.Null(RequestContext.Get(Callers.ProofKey)); // not on the calls the shard makes while serving it
        await check; // accepted
    }

    [Fact]
    public async Task A_proof_for_another_caller_is_refused_and_gone_all_the_same()
    {
        RequestContext.Set(Callers.ProofKey, "not a proof");
        var check = _callers.RequireAsync(FakeCall.Of<IIncomingGrainCallContext>(LeaseGrain, Shard), LeaseGrain, "the lease grain");
        Assert.Null(RequestContext.Get(Callers.ProofKey));
        await Assert.ThrowsAsync<AccessDeniedException>(() => check);
    }

    /// <summary>A call context with a source, a target and an internal interface; everything else at its default.</summary>
    public class FakeCall : DispatchProxy
    {
        private GrainId _source, _target;
        private Action? _onInvoke;

        public static T Of<T>(GrainId source, GrainId target, Action? onInvoke = null) where T : class
        {
            var call = Create<T, FakeCall>();
            var fake = (FakeCall)(object)call;
            (fake._source, fake._target, fake._onInvoke) = (source, target, onInvoke);
            return call;
        }

        protected override object? Invoke(MethodInfo? method, object?[]? args) => method!.Name switch
        {
            "get_SourceId" => (GrainId?)_source,
            "get_TargetId" => _target,
            "get_InterfaceName" => nameof(IShardReaders),
            "get_MethodName" => nameof(IShardReaders.SyncReader),
            "get_Request" => Create<IInvokable, InternalRequest>(),
            "Invoke" => Run(),
            _ => method.ReturnType.IsValueType && method.ReturnType != typeof(void) ? Activator.CreateInstance(method.ReturnType) : null,
        };

        private Task Run()
        {
            _onInvoke?.Invoke();
            return Task.CompletedTask;
        }
    }

    /// <summary>A request to one of the service's internal interfaces.</summary>
    public class InternalRequest : DispatchProxy
    {
        protected override object? Invoke(MethodInfo? method, object?[]? args) =>
            method!.Name == nameof(IInvokable.GetInterfaceType) ? typeof(IShardReaders) : null;
    }
}
