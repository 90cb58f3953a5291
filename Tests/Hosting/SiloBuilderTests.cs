using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Leases.Hosting;
using Orleans.Storage;

namespace Orleans.Leases.Tests.Hosting;

/// <summary>The silo builder extension's overloads, on a host that is built but not started.</summary>
public sealed class SiloBuilderTests
{
    [Fact]
    public void The_configuration_overload_binds_the_section_it_is_given()
    {
        var section = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Shards:CompactionFanout"] = "3",
            ["Shards:StateContainer"] = "team-shards",
        }).Build().GetSection("Shards");

        var options = Options(silo => silo.AddOrleansLeases(section));

        Assert.Equal((3, "team-shards"), (options.CompactionFanout, options.StateContainer));
    }

    [Fact]
    public void The_silo_configurations_Leases_section_is_read_then_the_callers_settings()
    {
        var options = Options(silo => silo.AddOrleansLeases(o => o.CompactionMinBatches = 7),
            new() { ["Leases:CompactionMinBatches"] = "9", ["Leases:CompactionFanout"] = "5" });

        Assert.Equal((7, 5), (options.CompactionMinBatches, options.CompactionFanout));
    }

    [Fact]
    public void Added_twice_the_service_is_registered_once_with_both_settings()
    {
        using var host = Build(silo => silo
            .AddOrleansLeases((OptionsBuilder<ShardServiceOptions> o) => o.Configure(s => s.CompactionFanout = 4))
            .AddOrleansLeases(o => o.CompactionMinBatches = 8));

        var options = host.Services.GetRequiredService<IOptions<ShardServiceOptions>>().Value;
        Assert.Equal((4, 8), (options.CompactionFanout, options.CompactionMinBatches));
        Assert.Single(host.Services.GetKeyedServices<IGrainStorage>(ShardStorage.Name));
    }

    [Fact]
    public void Added_twice_the_configuration_section_is_read_once_and_code_settings_stay()
    {
        var options = Options(silo => silo.AddOrleansLeases(o => o.CompactionMinBatches = 8).AddOrleansLeases(o => o.CompactionFanout = 4),
            new() { ["Leases:CompactionMinBatches"] = "9", ["Leases:CompactionFanout"] = "5" });

        Assert.Equal((8, 4), (options.CompactionMinBatches, options.CompactionFanout));
    }

    [Fact]
    public void A_bad_setting_is_refused_naming_it()
    {
        var error = Assert.Throws<OptionsValidationException>(() => Options(silo => silo.AddOrleansLeases(o => o.CompactionFanout = 1)));

        Assert.Contains("Leases:CompactionFanout must be 2 or more, not 1", error.Message);
    }

    private static ShardServiceOptions Options(Action<ISiloBuilder> configure, Dictionary<string, string?>? settings = null)
    {
        using var host = Build(configure, settings);
        return host.Services.GetRequiredService<IOptions<ShardServiceOptions>>().Value;
    }

    private static IHost Build(Action<ISiloBuilder> configure, Dictionary<string, string?>? settings = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, Configuration = new ConfigurationManager() });
        builder.Configuration.AddInMemoryCollection(settings ?? []);
        builder.UseOrleans(silo => configure(silo.UseLocalhostClustering()));
        return builder.Build();
    }
}
