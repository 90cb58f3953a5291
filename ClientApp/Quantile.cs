namespace Orleans.Leases.ClientApp;

internal static class Quantile
{
    /// <summary>The nearest-rank <paramref name="q"/> quantile of <paramref name="sorted"/> (ascending, not empty).</summary>
    public static double Of(double[] sorted, double q) =>
        sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
}
