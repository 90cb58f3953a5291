using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Leases.Hosting;
using Orleans.TestingHost;

namespace Orleans.Leases.Tests.Infrastructure;

/// <summary>
/// Silos whose grain timers and lease clocks run on one <see cref="FakeTimeProvider"/>: heartbeats and expiries
/// happen exactly when a test advances time, and never otherwise. Messaging and membership stay on real time.
/// </summary>
public class LeaseClusterFixture : ClusterFixture
{
    public static readonly TimeSpan Lease = TimeSpan.FromSeconds(60);
    public static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(15);

    public FakeTimeProvider Time { get; } = new(DateTimeOffset.UtcNow);

    /// <summary>Every sync is written at once, so a test sees a heartbeat's effect right after it (the held-back
    /// heartbeats of the default have tests of their own).</summary>
    protected override ShardServiceOptions CreateOptions()
    {
        var options = base.CreateOptions();
        options.HeartbeatWriteDelay = TimeSpan.Zero;
        return options;
    }

    public LeaseSettings Settings => new() { LeaseDuration = Lease, HeartbeatInterval = Heartbeat, Purpose = "test" };

    protected override void ConfigureSilo(ISiloBuilder silo)
    {
        silo.Services.AddSingleton(Time);
        silo.Services.Replace(ServiceDescriptor.Singleton<TimeProvider>(sp => sp.GetRequiredService<FakeTimeProvider>()));
        silo.Services.UseTimeProviderForBackgroundAreas(TimeProvider.System);
        // A killed client is forgotten quickly, so the lease grain's ping fails fast instead of timing out.
        silo.Configure<SiloMessagingOptions>(o => o.ClientDropTimeout = TimeSpan.FromSeconds(1));
    }

    /// <summary>Advances the clock one heartbeat interval and waits (in real time) until every handle's timer has
    /// ticked: its sync started after the advance, so it carried everything requested before.</summary>
    public async Task HeartbeatAsync(params ReadHandle[] handles)
    {
        var before = await Task.WhenAll(handles.Select(h => h.InspectAsync()));
        Time.Advance(Heartbeat);
        for (var i = 0; i < handles.Length; i++)
        {
            var ticksBefore = before[i].Heartbeats;
            await Eventually.Async(handles[i].InspectAsync, info => info.Heartbeats > ticksBefore || !info.IsLive,
                $"reader {handles[i].Reader} did not sync after one heartbeat");
        }
    }
}

[CollectionDefinition(Name)]
public sealed class LeaseCluster : ICollectionFixture<LeaseClusterFixture>
{
    public const string Name = "lease cluster";
}

internal static class Eventually
{
    /// <summary>Polls <paramref name="read"/> until <paramref name="done"/> (a background task has acted), or fails
    /// after <paramref name="patience"/> (10 s) of real time.</summary>
    public static async Task<T> Async<T>(Func<Task<T>> read, Func<T, bool> done, string failure, TimeSpan? patience = null)
    {
        var deadline = DateTime.UtcNow + (patience ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            var value = await read();
            if (done(value)) return value;
            if (DateTime.UtcNow > deadline) throw new Xunit.Sdk.XunitException($"{failure}; last seen: {value}");
            await Task.Delay(5);
        }
    }
}
