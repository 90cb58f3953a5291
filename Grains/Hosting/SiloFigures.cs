using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Providers;

namespace Orleans.Leases.Hosting;

/// <summary>
/// This silo's own CPU, memory and GC figures, for a benchmark run from another process (<c>bench leases</c> against
/// a running silo): the silo's cost per lease without the clients'. Reached per silo through
/// <c>IManagementGrain.SendControlCommandToProvider&lt;SiloFigures&gt;(SiloFigures.Name, command, null)</c>.
/// Not added by <c>AddOrleansLeases</c>: any cluster client could make a silo collect garbage with it, so only a host
/// meant for benchmarks registers it (<see cref="Register"/>: the sample silo).
/// </summary>
internal sealed class SiloFigures : IControllable
{
    public const string Name = "leases-figures";

    public static void Register(IServiceCollection services) => services.AddKeyedSingleton<IControllable, SiloFigures>(Name);

    /// <summary>The figures as they are.</summary>
    public const int Sample = 0;

    /// <summary>Collects garbage first, so the heap counts live objects only (as <c>IManagementGrain.ForceGarbageCollection</c>
    /// already lets any client do).</summary>
    public const int SettledSample = 1;

    public Task<object?> ExecuteCommand(int command, object? arg)
    {
        if (command is not (Sample or SettledSample)) throw new ArgumentOutOfRangeException(nameof(command), command, "unknown command");
        if (command == SettledSample)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
        }
        using var process = Process.GetCurrentProcess();
        return Task.FromResult<object?>(new ProcessFigures(process.TotalProcessorTime, process.WorkingSet64,
            GC.GetTotalMemory(false), GC.GetTotalPauseDuration(), System.Runtime.GCSettings.IsServerGC));
    }
}

/// <summary>One process's figures at one moment.</summary>
/// <param name="Cpu">CPU time used since the process started.</param>
/// <param name="ManagedHeap">Bytes of the managed heap in use.</param>
/// <param name="GcPause">Total time the GC paused the process since it started.</param>
[GenerateSerializer, Immutable, Alias("Leases.ProcessFigures")]
internal sealed record ProcessFigures(
    [property: Id(0)] TimeSpan Cpu,
    [property: Id(1)] long WorkingSet,
    [property: Id(2)] long ManagedHeap,
    [property: Id(3)] TimeSpan GcPause,
    [property: Id(4)] bool ServerGc);
