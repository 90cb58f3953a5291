// A team's silo that adds the shard service, and a client of its own that writes and reads a shard through it.
// Arguments: silo port, gateway port, storage connection string.
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Leases;

var (siloPort, gatewayPort, storage) = (int.Parse(args[0]), int.Parse(args[1]), args[2]);

var siloBuilder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, Configuration = new ConfigurationManager() });
siloBuilder.UseOrleans(silo => silo
    .UseLocalhostClustering(siloPort, gatewayPort)
    .AddOrleansLeases(o => o.StorageConnectionString = storage));
using var silo = siloBuilder.Build();
await silo.StartAsync();

var clientBuilder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, Configuration = new ConfigurationManager() });
clientBuilder.UseOrleansClient(client => client
    .UseLocalhostClustering(gatewayPort)
    .AddOrleansLeasesClient());
using var client = clientBuilder.Build();
await client.StartAsync();

var shards = client.Services.GetRequiredService<ShardClient>();
var shard = new ShardId($"consumer-{Guid.NewGuid():N}");
var appended = await shards.Writer(shard).CompareAndAppendAsync([new Update("apples", "3", 0, 1), new Update("pears", "5", 1, 1)], Frontier.At(0), Frontier.At(2));
await using (var reader = await shards.OpenReaderAsync(shard))
{
    foreach (var (key, value, diff) in await reader.ReadAsync(await reader.SnapshotAsync(1)))
        Console.WriteLine($"read {key}={value} {diff:+0;-0}");
}
Console.WriteLine($"append {appended.Outcome}");

await client.StopAsync();
await silo.StopAsync();
