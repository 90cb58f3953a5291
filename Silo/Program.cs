using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Orleans.Configuration;
using Orleans.Dashboard;
using Orleans.Hosting;
using Orleans.Leases;
using Orleans.Leases.Configuration;
using Orleans.Leases.Hosting;
using Orleans.Leases.Silo;

SiloSettings settings;
try
{
    settings = SiloSettings.Read(SiloSettings.Load(args));
    if (settings.Cluster.Clustering == ClusteringKind.AzureTable)
        StorageCheck.CreateTableServiceClient(settings.Cluster);   // a malformed connection string, before anything else
    settings.EnsurePortsFree();
    if (await StorageCheck.FindProblemAsync(settings.Service) is { } storage)
        throw new InvalidSettingException($"{ShardServiceOptions.Section}:StorageConnectionString", storage);
    if (settings.Cluster.Clustering == ClusteringKind.AzureTable && await StorageCheck.FindTableProblemAsync(settings.Cluster) is { } table)
        throw new InvalidSettingException($"{ClusterSettings.Section}:ConnectionString", table);
}
catch (InvalidSettingException bad)
{
    Console.Error.WriteLine($"error: {bad.Message}");
    return 1;
}

IHost host;
if (settings.DashboardPort == 0)
{
    var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
    AddSilo(builder, settings);
    host = builder.Build();
}
else
{
    var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
    builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, settings.DashboardPort));
    AddSilo(builder, settings);
    var app = builder.Build();
    app.MapPrometheusScrapingEndpoint();   // /metrics
    app.MapHealthChecks("/healthz");       // 200 Healthy once storage and a shard answer, else 503
    app.MapOrleansDashboard();             // the dashboard at /
    host = app;
}

using (host)
{
    try
    {
        _ = host.Services.GetRequiredService<IOptions<ShardServiceOptions>>().Value; // validated here, before the host logs it
    }
    catch (OptionsValidationException bad)
    {
        Console.Error.WriteLine($"error: {bad.Failures.First()}");
        return 1;
    }
    try
    {
        await host.StartAsync();
    }
    catch (Exception error)
    {
        // Whatever the checks above could not foresee (a port taken in between, membership refusing the silo).
        Console.Error.WriteLine($"error: the silo did not start: {StorageCheck.FirstLine(error)}");
        return 1;
    }
    var web = settings.DashboardPort == 0 ? "no dashboard" : $"dashboard http://127.0.0.1:{settings.DashboardPort}/, metrics http://127.0.0.1:{settings.DashboardPort}/metrics";
    Console.WriteLine($"Silo up: {settings.Cluster.Clustering} cluster {settings.Cluster.ClusterId}, " +
                      $"silo {settings.ListenAddress}:{settings.SiloPort}, gateway {settings.ListenAddress}:{settings.GatewayPort}, {web}");
    // Stopping is bounded: HostOptions.ShutdownTimeout cancels a graceful stop (the silo then stops ungracefully), and
    // should even that hang (a storage call that ignores cancellation), the process exits anyway.
    var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
    lifetime.ApplicationStopping.Register(() => _ = Task.Delay(settings.Recovery.ExitDeadline).ContinueWith(_ =>
    {
        Console.Error.WriteLine($"error: the silo did not stop within {settings.Recovery.ExitDeadline.TotalSeconds} s; exiting");
        Environment.Exit(3);
    }, TaskScheduler.Default));
    await host.WaitForShutdownAsync();
}
return 0;

static void AddSilo(IHostApplicationBuilder builder, SiloSettings settings)
{
    var cluster = settings.Cluster;
    builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = settings.Recovery.ShutdownTimeout);
    builder.Services.AddHealthChecks()
        .AddCheck<StorageHealthCheck>("storage", timeout: TimeSpan.FromSeconds(5))
        .AddCheck<ShardHealthCheck>("shard", timeout: TimeSpan.FromSeconds(10));
    settings.Recovery.ConfigureSilo(builder.Services);
    builder.UseOrleans(silo =>
    {
        if (cluster.Clustering == ClusteringKind.Localhost)
        {
            silo.UseLocalhostClustering(settings.SiloPort, settings.GatewayPort, serviceId: cluster.ServiceId, clusterId: cluster.ClusterId);
        }
        else
        {
            silo.UseAzureStorageClustering(o => o.TableServiceClient = StorageCheck.CreateTableServiceClient(cluster))
                .Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (cluster.ClusterId, cluster.ServiceId))
                .ConfigureEndpoints(settings.AdvertisedIPAddress, settings.SiloPort, settings.GatewayPort);
        }
        silo.AddOrleansLeases();
        SiloFigures.Register(silo.Services); // this process's CPU and heap for `bench leases` run from another process
        silo.AddActivityPropagation(); // a span's grain calls are its children, across grains and silos
        if (settings.DashboardPort != 0) silo.AddDashboard();
    });

    var otlp = settings.OtlpEndpoint is not null || !string.IsNullOrEmpty(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
    if (settings.DashboardPort == 0 && !otlp) return;
    builder.Services.AddOpenTelemetry()
        .ConfigureResource(resource => resource.AddService(cluster.ServiceId, serviceInstanceId: $"{settings.ListenAddress}:{settings.SiloPort}"))
        .WithMetrics(metrics =>
        {
            metrics.AddMeter(LeasesTelemetry.MeterName, "Microsoft.Orleans");
            if (settings.DashboardPort != 0) metrics.AddPrometheusExporter();
            // Without a setting the exporter reads the OTEL_EXPORTER_OTLP_* variables itself.
            if (settings.OtlpEndpoint is { } endpoint) metrics.AddOtlpExporter(o => o.Endpoint = endpoint);
            else if (otlp) metrics.AddOtlpExporter();
        });
    if (!otlp) return;
    builder.Services.AddOpenTelemetry().WithTracing(tracing =>
    {
        tracing.AddSource(LeasesTelemetry.ActivitySourceName, "Microsoft.Orleans.Application", "Microsoft.Orleans.Runtime");
        if (settings.OtlpEndpoint is { } endpoint) tracing.AddOtlpExporter(o => o.Endpoint = endpoint);
        else tracing.AddOtlpExporter();
    });
}
