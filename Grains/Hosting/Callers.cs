namespace Orleans.Leases.Hosting;

/// <summary>
/// Who may make an internal call (S8): the grain that sent it, as the Orleans runtime of the sending silo or client
/// stamps it on the message — not anything the caller passes. A refusal changes nothing.
/// </summary>
internal static class Callers
{
    public static bool IsCallTo<TInterface>(IIncomingGrainCallContext call) => call.Request.GetInterfaceType() == typeof(TInterface);

    /// <summary>Refuses <paramref name="call"/> unless it came from <paramref name="allowed"/>.</summary>
    public static void Require(IIncomingGrainCallContext call, GrainId allowed, string who)
    {
        if (call.SourceId != allowed) throw Denied(call, who);
    }

    /// <summary>Refuses <paramref name="call"/> unless it came from a grain of type <paramref name="allowed"/>.</summary>
    public static void RequireType(IIncomingGrainCallContext call, GrainType allowed, string who)
    {
        if (call.SourceId?.Type != allowed) throw Denied(call, who);
    }

    private static AccessDeniedException Denied(IIncomingGrainCallContext call, string who) =>
        new($"{call.InterfaceName}.{call.MethodName} is internal to the shard service: it is accepted only from {who}, " +
            $"not from {call.SourceId?.ToString() ?? "an unknown caller"}.");
}
