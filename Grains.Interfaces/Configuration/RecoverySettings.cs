using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;

namespace Orleans.Leases.Configuration;

/// <summary>
/// How fast the cluster notices a dead silo and how long calls wait on one (configuration section <see cref="Section"/>,
/// read by silos and clients alike). The one place these engine settings are chosen; <c>README.md</c> ("Leases through
/// restarts and crashes") gives the measured effect.
/// </summary>
/// <remarks>
/// A silo is declared dead after <see cref="MissedProbesLimit"/> missed probes, one every <see cref="ProbeTimeout"/>, and
/// <see cref="VotesForDeathDeclaration"/> votes; then every silo breaks its own calls still waiting on the dead one
/// (Orleans' <c>BreakOutstandingMessagesToSilo</c>), so grain-to-grain calls fail over within the detection time. A
/// client gets no such notice: a call it sent through a gateway to a silo that then died waits out
/// <see cref="ClientResponseTimeout"/>; the service's client calls retry transient errors and every call there is safe
/// to repeat (appends carry an idempotency key). Probes tighter than this risk declaring a busy but healthy silo dead
/// (Orleans stretches them while the prober itself is degraded).
/// </remarks>
public sealed record RecoverySettings
{
    public const string Section = "Recovery";

    /// <summary>Period and timeout of a liveness probe (Orleans' default: 5 s).</summary>
    public TimeSpan ProbeTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Missed probes before a silo is suspected (Orleans' default: 3).</summary>
    public int MissedProbesLimit { get; init; } = 3;

    /// <summary>Suspicions needed to declare a silo dead (Orleans' default: 2; fewer with fewer live silos).</summary>
    public int VotesForDeathDeclaration { get; init; } = 2;

    /// <summary>How often a silo rereads the membership table, besides gossip (Orleans' default: 60 s).</summary>
    public TimeSpan TableRefreshTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often a silo marks itself alive in the table (Orleans' default: 30 s).</summary>
    public TimeSpan IAmAliveTablePublishTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a client call without its own <c>[ResponseTimeout]</c> waits for an answer (Orleans' default:
    /// 30 s). No client call of the service waits longer by design (waits for upper go in 2 s rounds).</summary>
    public TimeSpan ClientResponseTimeout { get; init; } = TimeSpan.FromSeconds(8);

    /// <summary>How often a client rereads the gateway list, finding restarted silos (Orleans' default: 60 s).</summary>
    public TimeSpan GatewayListRefreshPeriod { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a silo asked to stop may take before it stops its grains ungracefully and exits anyway
    /// (e.g. while storage is unreachable).</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>When a silo asked to stop exits at the latest: <see cref="ShutdownTimeout"/> and time for the ungraceful
    /// stop after it. A silo that leaves this way is like one that crashed, which the service survives.</summary>
    public TimeSpan ExitDeadline => ShutdownTimeout + TimeSpan.FromSeconds(10);

    /// <summary>Reads the section, answering <see cref="InvalidSettingException"/> for the first bad value.</summary>
    public static RecoverySettings Read(IConfiguration configuration)
    {
        var d = new RecoverySettings();
        return new RecoverySettings
        {
            ProbeTimeout = Duration(configuration, nameof(ProbeTimeout), d.ProbeTimeout),
            MissedProbesLimit = Count(configuration, nameof(MissedProbesLimit), d.MissedProbesLimit),
            VotesForDeathDeclaration = Count(configuration, nameof(VotesForDeathDeclaration), d.VotesForDeathDeclaration),
            TableRefreshTimeout = Duration(configuration, nameof(TableRefreshTimeout), d.TableRefreshTimeout),
            IAmAliveTablePublishTimeout = Duration(configuration, nameof(IAmAliveTablePublishTimeout), d.IAmAliveTablePublishTimeout),
            ClientResponseTimeout = Duration(configuration, nameof(ClientResponseTimeout), d.ClientResponseTimeout),
            GatewayListRefreshPeriod = Duration(configuration, nameof(GatewayListRefreshPeriod), d.GatewayListRefreshPeriod),
            ShutdownTimeout = Duration(configuration, nameof(ShutdownTimeout), d.ShutdownTimeout),
        };
    }

    /// <summary>Membership settings of a silo.</summary>
    public void ConfigureSilo(IServiceCollection services) =>
        services.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = ProbeTimeout;
            o.NumMissedProbesLimit = MissedProbesLimit;
            o.NumVotesForDeathDeclaration = VotesForDeathDeclaration;
            o.TableRefreshTimeout = TableRefreshTimeout;
            o.IAmAliveTablePublishTimeout = IAmAliveTablePublishTimeout;
        });

    /// <summary>Messaging and gateway settings of a client.</summary>
    public void ConfigureClient(IServiceCollection services)
    {
        services.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = ClientResponseTimeout);
        services.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = GatewayListRefreshPeriod);
    }

    private static TimeSpan Duration(IConfiguration configuration, string name, TimeSpan fallback)
    {
        var key = $"{Section}:{name}";
        var value = configuration[key];
        if (value is null) return fallback;
        if (!TimeSpan.TryParse(value, CultureInfo.InvariantCulture, out var duration) || duration <= TimeSpan.Zero || duration > TimeSpan.FromHours(1))
            throw new InvalidSettingException(key, $"\"{value}\" is not a duration between 00:00:00 and 01:00:00 (hh:mm:ss)");
        return duration;
    }

    private static int Count(IConfiguration configuration, string name, int fallback)
    {
        var key = $"{Section}:{name}";
        var value = configuration[key];
        if (value is null) return fallback;
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count is < 1 or > 10)
            throw new InvalidSettingException(key, $"\"{value}\" is not a number from 1 to 10");
        return count;
    }
}
