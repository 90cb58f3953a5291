using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Orleans.Runtime;

namespace Orleans.Leases.ClientApp;

/// <summary>
/// <c>chaos rolling-restart|kill</c>: the chaos scenario against silos that <c>./run.sh --silos N</c> supervises. Silos
/// are found through <c>&lt;run-dir&gt;/silo-&lt;i&gt;.pid</c>; rolling-restart sends SIGTERM (graceful) to each in turn,
/// kill sends SIGKILL to the silo hosting the scenario's shard; after each, the supervisor must bring the silo back and
/// the cluster must have N active silos again.
/// </summary>
internal static class Chaos
{
    private const int SigKill = 9;
    private const int SigTerm = 15;

    /// <summary>How long a silo may take to come back under its supervisor and rejoin.</summary>
    private static readonly TimeSpan ComebackPatience = TimeSpan.FromSeconds(90);

    /// <summary>Longer than the tests' lease: a crashed silo's grains are unreachable until membership declares it
    /// dead (default probes: about 15 s, sooner when its successor rejoins on the same address).</summary>
    private static readonly ChaosSettings Settings = new()
    {
        Lease = new LeaseSettings { LeaseDuration = TimeSpan.FromSeconds(30), HeartbeatInterval = TimeSpan.FromSeconds(2), Purpose = "chaos" },
    };

    /// <summary>The supervised silos' pid files by index; a clear error when there are none.</summary>
    public static SortedDictionary<int, string> FindSilos(string runDir)
    {
        var silos = new SortedDictionary<int, string>();
        if (Directory.Exists(runDir))
            foreach (var file in Directory.GetFiles(runDir, "silo-*.pid"))
                if (int.TryParse(Path.GetFileNameWithoutExtension(file)["silo-".Length..], out var index)) silos[index] = file;
        if (silos.Count == 0)
            throw new ArgumentException($"no silo pid files (silo-<i>.pid) in '{Path.GetFullPath(runDir)}' (option --run-dir): start the cluster with ./run.sh --silos 3");
        return silos;
    }

    public static async Task<int> RunAsync(Cluster cluster, bool kill, SortedDictionary<int, string> silos, bool json,
        CancellationToken cancellation)
    {
        Action<string> progress = line => Output.Progress(json, line);
        var management = cluster.Client.GetGrain<IManagementGrain>(0);
        var scenario = new ChaosScenario(cluster.Client, Settings, progress);
        var report = await scenario.RunAsync(kill ? "kill" : "rolling-restart", async c =>
        {
            if (kill)
            {
                var victim = await ShardSiloAsync(management, cluster.Client.GetGrain<IShardGrain>(scenario.Shard.Value), silos);
                await SignalAndWaitAsync(management, silos, victim, SigKill, progress, c);
            }
            else
            {
                foreach (var index in silos.Keys) await SignalAndWaitAsync(management, silos, index, SigTerm, progress, c);
            }
        }, cancellation);

        if (json) Console.WriteLine(JsonSerializer.Serialize(report, Output.Json));
        else foreach (var line in report.Lines()) Console.WriteLine(line);
        return report.Passed ? 0 : 2;
    }

    /// <summary>Signals silo <paramref name="index"/>, then waits until its supervisor has started a new process and
    /// the cluster has every silo active again.</summary>
    private static async Task SignalAndWaitAsync(IManagementGrain management, SortedDictionary<int, string> silos, int index,
        int signal, Action<string> progress, CancellationToken cancellation)
    {
        var pid = ReadPid(silos[index]) ?? throw new ArgumentException($"{silos[index]} holds no pid");
        // Silo i has the i-th lowest silo port; it is back when that address is gone (left, or declared dead) and
        // every silo is active again, its successor included.
        var before = (await Transient.RetryAsync(() => management.GetHosts(onlyActive: true), cancellation)).Keys
            .OrderBy(s => s.Endpoint.Port).ToList();
        var rank = silos.Keys.ToList().IndexOf(index);
        var gone = rank < before.Count ? before[rank] : null;
        progress($"silo {index} (pid {pid}): {(signal == SigKill ? "SIGKILL" : "SIGTERM")}");
        var clock = Stopwatch.StartNew();
        if (Kill(pid, signal) != 0) throw new ArgumentException($"cannot signal silo {index} (pid {pid}): errno {Marshal.GetLastPInvokeError()}");
        while (true)
        {
            await Task.Delay(250, cancellation);
            if (clock.Elapsed > ComebackPatience)
                throw new ClusterUnreachableException($"silo {index} did not come back within {ComebackPatience.TotalSeconds} s (is ./run.sh supervising it?)");
            if (ReadPid(silos[index]) is not { } next || next == pid || Kill(next, 0) != 0 || Kill(pid, 0) == 0) continue;
            var active = await Transient.RetryAsync(() => management.GetHosts(onlyActive: true), cancellation);
            if (active.Count != silos.Count || (gone is not null && active.ContainsKey(gone))) continue;
            progress($"silo {index} back as pid {next}; {active.Count} silos active after {clock.Elapsed.TotalSeconds:F1} s");
            return;
        }
    }

    /// <summary>The index of the silo hosting <paramref name="shard"/>: silo i listens on the i-th lowest silo port
    /// (run.sh gives silo i SiloPort 11111+i). The last silo when that is unknown.</summary>
    private static async Task<int> ShardSiloAsync(IManagementGrain management, IShardGrain shard, SortedDictionary<int, string> silos)
    {
        var host = await management.GetActivationAddress(shard);
        var ports = (await management.GetHosts(onlyActive: true)).Keys.Select(s => s.Endpoint.Port).Order().ToList();
        var rank = host is null ? -1 : ports.IndexOf(host.Endpoint.Port);
        return rank >= 0 && ports.Count == silos.Count ? silos.Keys.ElementAt(rank) : silos.Keys.Last();
    }

    private static int? ReadPid(string file)
    {
        try
        {
            return int.TryParse(File.ReadAllText(file).Trim(), out var pid) ? pid : null;
        }
        catch (IOException)
        {
            return null; // being rewritten by the supervisor
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
