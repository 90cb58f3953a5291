using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Orleans.Leases.Configuration;
using Orleans.Leases.Hosting;

namespace Orleans.Leases.Silo;

/// <summary>
/// Everything the silo reads from configuration (appsettings.json beside the program, then <c>Section__Key</c>
/// environment variables, then the command line), validated up front so that a bad value stops the silo with one
/// line naming the setting instead of a failure deep in startup.
/// </summary>
public sealed record SiloSettings
{
    public const string Section = "Silo";

    public required ClusterSettings Cluster { get; init; }

    public required ShardServiceOptions Service { get; init; }

    /// <summary>Failure detection, call timeouts and the stop bound (section <c>Recovery</c>).</summary>
    public required RecoverySettings Recovery { get; init; }

    /// <summary>Silo-to-silo port (default 11111).</summary>
    public int SiloPort { get; init; }

    /// <summary>Client gateway port (default 30000).</summary>
    public int GatewayPort { get; init; }

    /// <summary>The address other silos and clients reach this silo at; the silo listens on it
    /// (AzureTable clustering; Localhost clustering always uses loopback).</summary>
    public required IPAddress AdvertisedIPAddress { get; init; }

    /// <summary>Port of the dashboard and the /metrics scrape endpoint on 127.0.0.1 (default 8080); 0 = no web host.</summary>
    public int DashboardPort { get; init; }

    /// <summary>Where to push metrics over OTLP, if anywhere (<c>OTEL_EXPORTER_OTLP_ENDPOINT</c> works too).</summary>
    public Uri? OtlpEndpoint { get; init; }

    /// <summary>The address the silo and gateway listen on.</summary>
    public IPAddress ListenAddress => Cluster.Clustering == ClusteringKind.Localhost ? IPAddress.Loopback : AdvertisedIPAddress;

    public static IConfiguration Load(string[] args) => new ConfigurationBuilder()
        .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
        .AddEnvironmentVariables()
        .AddCommandLine(args)
        .Build();

    /// <summary>Reads and checks the settings; a bad one answers <see cref="InvalidSettingException"/>.</summary>
    public static SiloSettings Read(IConfiguration configuration)
    {
        var settings = new SiloSettings
        {
            Cluster = ClusterSettings.Read(configuration),
            Service = ReadService(configuration),
            Recovery = RecoverySettings.Read(configuration),
            SiloPort = Settings.Port(configuration, $"{Section}:SiloPort", 11111),
            GatewayPort = Settings.Port(configuration, $"{Section}:GatewayPort", 30000),
            AdvertisedIPAddress = ReadAddress(configuration, $"{Section}:AdvertisedIPAddress"),
            DashboardPort = Settings.Port(configuration, $"{Section}:DashboardPort", 8080, zeroAllowed: true),
            OtlpEndpoint = ReadUri(configuration, $"{Section}:OtlpEndpoint"),
        };
        (string Key, int Port)[] ports = [("SiloPort", settings.SiloPort), ("GatewayPort", settings.GatewayPort), ("DashboardPort", settings.DashboardPort)];
        foreach (var (key, port) in ports)
            if (port != 0 && ports.Count(p => p.Port == port) > 1)
                throw new InvalidSettingException($"{Section}:{key}", $"{port} is also used by another of Silo:SiloPort, Silo:GatewayPort, Silo:DashboardPort");
        return settings;
    }

    /// <summary>Fails on the first of this silo's ports that another process already listens on.</summary>
    public void EnsurePortsFree()
    {
        EnsureFree("SiloPort", ListenAddress, SiloPort);
        EnsureFree("GatewayPort", ListenAddress, GatewayPort);
        if (DashboardPort != 0) EnsureFree("DashboardPort", IPAddress.Loopback, DashboardPort);
    }

    private static void EnsureFree(string key, IPAddress address, int port)
    {
        var listener = new TcpListener(address, port);
        try
        {
            listener.Start();
        }
        catch (SocketException error)
        {
            var why = error.SocketErrorCode == SocketError.AddressAlreadyInUse ? "is already in use" : $"cannot be listened on ({error.Message})";
            throw new InvalidSettingException($"{Section}:{key}", $"{port} {why} on {address}");
        }
        finally
        {
            listener.Stop();
        }
    }

    private static ShardServiceOptions ReadService(IConfiguration configuration)
    {
        try
        {
            return configuration.GetSection(ShardServiceOptions.Section).Get<ShardServiceOptions>() ?? new();
        }
        catch (InvalidOperationException error)
        {
            // "Failed to convert configuration value 'x' at 'Leases:OrphanMinAge' to type 'System.TimeSpan'."
            var binder = Regex.Match(error.Message, "value '(.*)' at '([^']+)' to type '([^']+)'");
            if (!binder.Success) throw new InvalidSettingException(ShardServiceOptions.Section, error.Message.Split('\n')[0].Trim());
            throw new InvalidSettingException(binder.Groups[2].Value, $"\"{binder.Groups[1].Value}\" is not a valid {binder.Groups[3].Value}");
        }
    }

    private static IPAddress ReadAddress(IConfiguration configuration, string key)
    {
        var value = configuration[key];
        if (value is null) return IPAddress.Loopback;
        if (!IPAddress.TryParse(value, out var address))
            throw new InvalidSettingException(key, $"\"{value}\" is not an IP address");
        return address;
    }

    private static Uri? ReadUri(IConfiguration configuration, string key)
    {
        var value = configuration[key];
        if (string.IsNullOrEmpty(value)) return null;
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new InvalidSettingException(key, $"\"{value}\" is not an http(s) URL");
        return uri;
    }
}
