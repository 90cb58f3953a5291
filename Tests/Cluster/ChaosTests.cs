using Orleans.Leases.Configuration;
using Orleans.Hosting;
using Orleans.Leases.ClientApp;
using Orleans.Leases.Hosting;
using Orleans.Leases.Tests.Infrastructure;
using Orleans.TestingHost;
using Xunit.Abstractions;

namespace Orleans.Leases.Tests.Cluster;

/// <summary>Three silos on the real clock with the service's own recovery settings (<see cref="RecoverySettings"/>:
/// what <c>run.sh</c> uses), so that these tests check the leases the README promises.</summary>
public sealed class ThreeSiloFixture : ClusterFixture
{
    protected override short SiloCount => 3;

    protected override void ConfigureSilo(ISiloBuilder silo) => new RecoverySettings().ConfigureSilo(silo.Services);

    protected override void ConfigureClient(IClientBuilder client) => new RecoverySettings().ConfigureClient(client.Services);
}

[CollectionDefinition(Name)]
public sealed class ThreeSiloCluster : ICollectionFixture<ThreeSiloFixture>
{
    public const string Name = "three silo cluster";
}

/// <summary>Leases survive cluster operations: the chaos scenario (also <c>ClientApp chaos</c>) around silo restarts
/// and a crash.</summary>
[Collection(ThreeSiloCluster.Name)]
public sealed class ChaosTests(ThreeSiloFixture fixture, ITestOutputHelper output)
{
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();

    private InProcessTestCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task Leases_holds_and_appends_survive_a_rolling_restart_of_every_silo()
    {
        var scenario = new ChaosScenario(fixture.Client, new ChaosSettings(), Log);

        // Every silo goes, the client's gateways with them: the client and its readers must ride it out.
        var report = await scenario.RunAsync("rolling-restart", async _ =>
        {
            foreach (var silo in Cluster.Silos.ToList())
            {
                Log($"restarting {silo.SiloAddress}");
                await Cluster.RestartSiloAsync(silo);
                await Cluster.WaitForLivenessToStabilizeAsync();
                Log("stable");
            }
        }, CancellationToken.None);

        AssertSurvived(report);
    }

    /// <summary>The lease grains' silo dies, then the shard's: no lease, hold or return is lost, with the default lease
    /// (60 s, heartbeat 15 s) and with the shortest lease the README promises (20 s, heartbeat 5 s).</summary>
    [Theory]
    [InlineData(60, null)]
    [InlineData(20, 5)]
    public async Task Leases_returns_and_appends_survive_the_crash_of_the_lease_grains_silo_then_the_shards(int leaseSeconds, int? heartbeatSeconds)
    {
        var lease = new LeaseSettings
        {
            LeaseDuration = TimeSpan.FromSeconds(leaseSeconds),
            HeartbeatInterval = heartbeatSeconds is { } heartbeat ? TimeSpan.FromSeconds(heartbeat) : null,
            Purpose = "chaos",
        };
        var scenario = new ChaosScenario(fixture.Client, new ChaosSettings { Lease = lease }, Log);

        var report = await scenario.RunAsync("kill", async c =>
        {
            var keepers = Keepers(scenario);
            var shard = Host(fixture.Client.GetGrain<IShardGrain>(scenario.Shard.Value).GetGrainId());
            var victim = keepers.GroupBy(k => k.Silo).OrderByDescending(g => !g.Key.Equals(shard)).ThenByDescending(g => g.Count()).First();
            await KillAsync(scenario, victim.Key, victim.Select(k => k.Reader), "the lease grains' silo");
            await scenario.ServedAgainAsync(c);

            shard = Host(fixture.Client.GetGrain<IShardGrain>(scenario.Shard.Value).GetGrainId());
            await KillAsync(scenario, shard, Keepers(scenario).Where(k => k.Silo.Equals(shard)).Select(k => k.Reader), "the shard's silo");
        }, CancellationToken.None);

        AssertSurvived(report);
        Assert.Equal(2, report.Crashes);
    }

    /// <summary>Kills <paramref name="silo"/>, marks the crash for the scenario, and brings a new silo in.</summary>
    private async Task KillAsync(ChaosScenario scenario, SiloAddress silo, IEnumerable<ReaderId> keptThere, string what)
    {
        var victim = Cluster.GetSiloForAddress(silo)!;
        var readers = keptThere.ToList();
        Log($"killing {silo}, {what}, keeper of {readers.Count} reader(s)");
        await Cluster.KillSiloAsync(victim);
        scenario.Crashed(readers);
        await Cluster.StartAdditionalSiloAsync();
        await Cluster.WaitForLivenessToStabilizeAsync(didKill: true);
    }

    private List<(ReaderId Reader, SiloAddress Silo)> Keepers(ChaosScenario scenario) =>
        [.. scenario.LeaseGrains.Select(l => (l.Reader, Host(l.Grain.GetGrainId())))];

    private SiloAddress Host(GrainId grain)
    {
        Assert.True(Cluster.TryGetGrainContext(grain, out var context), $"{grain} is not active");
        return context.Address.SiloAddress!;
    }

    private void Log(string line) => output.WriteLine($"{_clock.Elapsed.TotalSeconds,6:F1} {line}");

    private void AssertSurvived(ChaosReport report)
    {
        foreach (var line in report.Lines()) output.WriteLine(line);
        Assert.Empty(report.Errors);
        Assert.Equal(0, report.LeasesLost);
        Assert.Equal(0, report.ReturnsLost);
        Assert.Equal(0, report.SinceHoldsMovedBackwards);
        Assert.Equal(0, report.SeqNoHoldsMovedBackwards);
        Assert.Equal(0, report.SeqNoHoldsReleasedPastLeasedPart);
        Assert.Equal(0, report.LeasedPartsUnfetchable);
        Assert.Equal(0, report.LeasedReadsWrong);
        Assert.Equal(0, report.AppendsLost);
        Assert.Equal(0, report.AppendsDoubled);
        Assert.Equal(0, report.UnexpectedErrors);
        Assert.True(report.AppendsDuringOperations > 0, "no append happened during the operations");
        Assert.True(report.LeasedSnapshots > 0 && report.BlockedSnapshots > 0, "the readers did not read");
        Assert.True(report.Passed);
    }
}
