namespace Orleans.Leases;

/// <summary>What every append must meet, checked by the part worker (before it stores anything) and again by the
/// shard's state (which answers whoever calls it).</summary>
internal static class AppendRules
{
    /// <summary>Why the batch [<paramref name="lower"/>, <paramref name="upper"/>) under
    /// <paramref name="idempotencyKey"/> cannot be appended, or null.</summary>
    public static string? BatchError(Frontier lower, Frontier upper, string? idempotencyKey) =>
        !IdempotencyKey.IsValid(idempotencyKey) ? IdempotencyKey.Rule
        : lower.IsEmpty ? "The shard is closed (expectedUpper is empty): nothing can be appended."
        : upper <= lower ? $"newUpper {upper} must be beyond expectedUpper {lower}."
        : null;
}
