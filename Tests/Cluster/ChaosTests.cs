using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Leases.ClientApp;
using Orleans.Leases.Hosting;
using Orleans.Leases.Tests.Infrastructure;
using Orleans.TestingHost;
using Xunit.Abstractions;

namespace Orleans.Leases.Tests.Cluster;

/// <summary>Three silos on the real clock. A crashed silo is declared dead within a few seconds (1 s probes), and the
/// shard wakes overdue lease grains every second, so that a 20 s lease outlives both with room for a loaded machine; the client refreshes its
/// gateway list every second, so it finds restarted silos' gateways.</summary>
public sealed class ThreeSiloFixture : ClusterFixture
{
    protected override short SiloCount => 3;

    protected override void ConfigureSilo(ISiloBuilder silo)
    {
        silo.Configure<ClusterMembershipOptions>(o => o.ProbeTimeout = TimeSpan.FromSeconds(1));
        silo.Configure<ShardServiceOptions>(o => o.ReaderSweepInterval = TimeSpan.FromSeconds(1));
    }

    protected override void ConfigureClient(IClientBuilder client) =>
        client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(1));
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

    [Fact]
    public async Task Leases_holds_and_appends_survive_the_crash_of_the_shards_silo()
    {
        var scenario = new ChaosScenario(fixture.Client, new ChaosSettings(), Log);

        var report = await scenario.RunAsync("kill", async _ =>
        {
            var shard = fixture.Client.GetGrain<IShardGrain>(scenario.Shard.Value).GetGrainId();
            Assert.True(Cluster.TryGetGrainContext(shard, out var context), "the shard grain is not active");
            var victim = Cluster.GetSiloForAddress(context.Address.SiloAddress!)!;
            Log($"killing {victim.SiloAddress}, the shard's silo");
            await Cluster.KillSiloAsync(victim);
            await Cluster.StartAdditionalSiloAsync();
            await Cluster.WaitForLivenessToStabilizeAsync(didKill: true);
        }, CancellationToken.None);

        AssertSurvived(report);
    }

    private void Log(string line) => output.WriteLine($"{_clock.Elapsed.TotalSeconds,6:F1} {line}");

    private void AssertSurvived(ChaosReport report)
    {
        foreach (var line in report.Lines()) output.WriteLine(line);
        Assert.Empty(report.Errors);
        Assert.Equal(0, report.LeasesLost);
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
