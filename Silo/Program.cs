using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Orleans.Hosting;
using Orleans.Leases.Hosting;
using Orleans.Leases.Silo;

var builder = Host.CreateApplicationBuilder(args);
var service = builder.Configuration.GetSection(ShardServiceOptions.Section).Get<ShardServiceOptions>() ?? new();
var ports = builder.Configuration.GetSection("Silo").Get<SiloSettings>() ?? new();

if (await StorageCheck.FindProblemAsync(service) is { } problem)
{
    Console.Error.WriteLine($"Storage unreachable: {problem} (setting Leases:StorageConnectionString)");
    return 1;
}

builder.UseOrleans(silo => silo
    .UseLocalhostClustering(ports.SiloPort, ports.GatewayPort)
    .AddShardService());

using var host = builder.Build();
await host.RunAsync();
return 0;
