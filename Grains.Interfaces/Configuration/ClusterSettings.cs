using System.Collections.Immutable;
using Microsoft.Extensions.Configuration;

namespace Orleans.Leases.Configuration;

/// <summary>How silos find each other and clients find silos.</summary>
public enum ClusteringKind
{
    /// <summary>One silo on loopback; clients connect to its gateway port(s).</summary>
    Localhost,

    /// <summary>Membership in an Azure Storage table (Azurite in development); any number of silos and hosts.</summary>
    AzureTable,
}

/// <summary>
/// Which cluster to form or join (configuration section <see cref="Section"/>). Silos and clients read it the same
/// way, so one set of settings (appsettings.json or <c>Cluster__*</c> environment variables) serves both.
/// </summary>
public sealed record ClusterSettings
{
    public const string Section = "Cluster";

    public ClusteringKind Clustering { get; init; } = ClusteringKind.Localhost;

    /// <summary>Silos with the same cluster id form one cluster.</summary>
    public string ClusterId { get; init; } = "leases";

    /// <summary>Names the service's durable identity; must stay the same across deployments.</summary>
    public string ServiceId { get; init; } = "orleans-leases";

    /// <summary>The storage account holding the membership table (AzureTable clustering).</summary>
    public string ConnectionString { get; init; } = "UseDevelopmentStorage=true";

    /// <summary>Gateway ports a client tries on loopback (Localhost clustering).</summary>
    public ImmutableArray<int> GatewayPorts { get; init; } = [30000];

    /// <summary>Reads the section, answering <see cref="InvalidSettingException"/> for the first bad value.</summary>
    public static ClusterSettings Read(IConfiguration configuration)
    {
        var defaults = new ClusterSettings();
        var single = Settings.Port(configuration, $"{Section}:GatewayPort", defaults.GatewayPorts[0]);
        var list = configuration.GetSection($"{Section}:GatewayPorts").GetChildren()
            .Select(child => Settings.Port(configuration, child.Path, 0)).ToImmutableArray();
        return new ClusterSettings
        {
            Clustering = Settings.Choice(configuration, $"{Section}:Clustering", defaults.Clustering),
            ClusterId = Settings.Id(configuration, $"{Section}:ClusterId", defaults.ClusterId),
            ServiceId = Settings.Id(configuration, $"{Section}:ServiceId", defaults.ServiceId),
            ConnectionString = Settings.Text(configuration, $"{Section}:ConnectionString", defaults.ConnectionString),
            GatewayPorts = list.IsEmpty ? [single] : list,
        };
    }
}

/// <summary>A configuration value that cannot be used; the message names the setting and says why.</summary>
public sealed class InvalidSettingException(string setting, string problem) : Exception($"{setting} {problem}")
{
    /// <summary>The setting's path, e.g. <c>Cluster:Clustering</c>.</summary>
    public string Setting { get; } = setting;
}

/// <summary>Reads single settings with an <see cref="InvalidSettingException"/> naming the setting when one is bad,
/// where the configuration binder would answer a generic conversion error.</summary>
public static class Settings
{
    public static string Text(IConfiguration configuration, string key, string fallback)
    {
        var value = configuration[key];
        if (value is null) return fallback;
        if (string.IsNullOrWhiteSpace(value)) throw new InvalidSettingException(key, "is empty");
        return value;
    }

    /// <summary>A cluster or service id: 1–64 of [A-Za-z0-9._-], which Azure Table keys and silo names accept.</summary>
    public static string Id(IConfiguration configuration, string key, string fallback)
    {
        var value = Text(configuration, key, fallback);
        if (value.Length > 64 || !value.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
            throw new InvalidSettingException(key, $"\"{value}\" must be 1–64 characters of [A-Za-z0-9._-]");
        return value;
    }

    /// <summary>A TCP port, 1–65535; 0 too when <paramref name="zeroAllowed"/> (meaning "off").</summary>
    public static int Port(IConfiguration configuration, string key, int fallback, bool zeroAllowed = false)
    {
        var value = configuration[key];
        if (value is null) return fallback;
        var lowest = zeroAllowed ? 0 : 1;
        if (!int.TryParse(value, out var port) || port < lowest || port > 65535)
            throw new InvalidSettingException(key, $"\"{value}\" is not a port number ({lowest}–65535)");
        return port;
    }

    public static TEnum Choice<TEnum>(IConfiguration configuration, string key, TEnum fallback) where TEnum : struct, Enum
    {
        var value = configuration[key];
        if (value is null) return fallback;
        // Names only: Enum.TryParse would also take "1" or "Localhost,AzureTable".
        var name = Enum.GetNames<TEnum>().FirstOrDefault(n => n.Equals(value.Trim(), StringComparison.OrdinalIgnoreCase));
        if (name is null)
            throw new InvalidSettingException(key, $"\"{value}\" is not one of {string.Join(", ", Enum.GetNames<TEnum>())}");
        return Enum.Parse<TEnum>(name);
    }
}
