namespace Orleans.Leases.Silo;

/// <summary>Where this silo listens (configuration section <c>Silo</c>).</summary>
public sealed class SiloSettings
{
    public int SiloPort { get; set; } = 11111;
    public int GatewayPort { get; set; } = 30000;
}
