using System.Net;
using System.Net.Sockets;

namespace Orleans.Leases.Tests.Operations;

/// <summary>A silo given settings it cannot work with stops at once with one line naming the setting, and exit code 1.</summary>
public sealed class BadConfigurationTests
{
    /// <summary>An account whose endpoints nobody listens on.</summary>
    private static string Unreachable(int port) =>
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
        $"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;";

    public static TheoryData<string, string, string, string> Cases => new()
    {
        { "Cluster__Clustering", "Foo", "Cluster:Clustering", "\"Foo\" is not one of Localhost, AzureTable" },
        { "Cluster__ClusterId", "no spaces", "Cluster:ClusterId", "must be 1–64 characters" },
        { "Silo__SiloPort", "70000", "Silo:SiloPort", "is not a port number" },
        { "Silo__AdvertisedIPAddress", "here", "Silo:AdvertisedIPAddress", "is not an IP address" },
        { "Leases__StorageConnectionString", "not a connection string", "Leases:StorageConnectionString", "is not a storage connection string" },
        { "Leases__StorageConnectionString", Unreachable(SiloProcess.FreePorts(1)[0]), "Leases:StorageConnectionString", "storage unreachable" },
        { "Leases__OrphanMinAge", "an hour", "Leases:OrphanMinAge", "\"an hour\" is not a valid System.TimeSpan" },
        { "Leases__InlineWriteMaxBytes", "-1", "Leases:InlineWriteMaxBytes", "must be 0 up to Leases:MaxBatchBytes" },
        { "Leases__CompactionFanout", "1", "Leases:CompactionFanout", "must be 2 or more" },
        { "Leases__HeartbeatWriteDelay", "00:01:00", "Leases:HeartbeatWriteDelay", "below 30 s" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_bad_setting_stops_the_silo_with_one_line_naming_it(string variable, string value, string setting, string why)
    {
        var (code, line) = await RunAsync(new() { [variable] = value });
        Assert.Equal(1, code);
        Assert.StartsWith($"error: {setting} ", line);
        Assert.Contains(why, line);
    }

    [Fact]
    public async Task A_bad_membership_connection_string_stops_the_silo_naming_it()
    {
        var (code, line) = await RunAsync(new() { ["Cluster__Clustering"] = "AzureTable", ["Cluster__ConnectionString"] = "AccountName=;" });
        Assert.Equal(1, code);
        Assert.StartsWith("error: Cluster:ConnectionString is not a storage connection string", line);
    }

    [Fact]
    public async Task An_unreachable_membership_table_stops_the_silo_naming_its_setting()
    {
        var (code, line) = await RunAsync(new()
        {
            ["Cluster__Clustering"] = "AzureTable",
            ["Cluster__ConnectionString"] = Unreachable(SiloProcess.FreePorts(1)[0]),
        });
        Assert.Equal(1, code);
        Assert.StartsWith("error: Cluster:ConnectionString storage unreachable", line);
    }

    [Theory]
    [InlineData("Silo__SiloPort", "Silo:SiloPort")]
    [InlineData("Silo__GatewayPort", "Silo:GatewayPort")]
    [InlineData("Silo__DashboardPort", "Silo:DashboardPort")]
    public async Task A_port_in_use_stops_the_silo_naming_the_setting(string variable, string setting)
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;

        var (code, line) = await RunAsync(new() { [variable] = port.ToString() });

        Assert.Equal(1, code);
        Assert.Equal($"error: {setting} {port} is already in use on 127.0.0.1", line);
    }

    /// <summary>Runs the silo on free ports with <paramref name="settings"/> on top; answers its exit code and the one
    /// line it printed (failing if it printed anything else).</summary>
    private static async Task<(int Code, string Line)> RunAsync(Dictionary<string, string> settings)
    {
        var ports = SiloProcess.FreePorts(3);
        var all = new Dictionary<string, string>
        {
            ["Silo__SiloPort"] = ports[0].ToString(),
            ["Silo__GatewayPort"] = ports[1].ToString(),
            ["Silo__DashboardPort"] = ports[2].ToString(),
        };
        foreach (var (name, value) in settings) all[name] = value;
        await using var silo = SiloProcess.Start(all);
        var code = await silo.WaitForExitAsync(TimeSpan.FromSeconds(60));
        var lines = (silo.Output + silo.Errors).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.True(lines.Length == 1, $"expected one line, got:\n{string.Join('\n', lines)}");
        return (code, lines[0]);
    }
}
