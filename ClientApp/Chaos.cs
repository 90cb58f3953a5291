using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Orleans.Runtime;

namespace Orleans.Leases.ClientApp;

/// <summary>
/// <c>chaos rolling-restart|kill</c>: the chaos scenario against silos that <c>./run.sh --silos N</c> supervises. Silos
/// are found through <c>&lt;run-dir&gt;/silo-&lt;i&gt;.pid</c>; rolling-restart sends SIGTERM (graceful) to each in turn,
/// kill sends SIGKILL to the silo hosting most of the readers' lease grains, then to the one hosting the shard; after
/// each, the supervisor must bring the silo back and the cluster must have N active silos again.
/// </summary>
internal static class Chaos
{
    private const int SigKill = 9;
    private const int SigTerm = 15;

    /// <summary>How long a silo may take to come back under its supervisor and rejoin.</summary>
    private static readonly TimeSpan ComebackPatience = TimeSpan.FromSeconds(90);

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

    public static async Task<int> RunAsync(Cluster cluster, bool kill, SortedDictionary<int, string> silos, LeaseSettings lease,
        bool json, CancellationToken cancellation)
    {
        Action<string> progress = line => Output.Progress(json, line);
        var management = cluster.Client.GetGrain<IManagementGrain>(0);
        var scenario = new ChaosScenario(cluster.Client, new ChaosSettings { Lease = lease }, progress);
        var report = await scenario.RunAsync(kill ? "kill" : "rolling-restart", async c =>
        {
            if (kill)
            {
                // The keepers' silo first (the shard elsewhere if placement allows), then wherever the shard is then.
                var keepers = await HostsAsync(management, scenario.LeaseGrains.Select(l => (l.Reader, (IAddressable)l.Grain)));
                var shard = cluster.Client.GetGrain<IShardGrain>(scenario.Shard.Value);
                var shardHost = await management.GetActivationAddress(shard);
                var victim = keepers.GroupBy(k => k.Silo).OrderByDescending(g => g.Key != shardHost).ThenByDescending(g => g.Count()).First();
                progress($"{victim.Count()} of {keepers.Count} lease grains on {victim.Key}");
                await SignalAndWaitAsync(management, silos, await IndexAsync(management, victim.Key, silos), SigKill, progress,
                    () => scenario.Crashed(victim.Select(k => k.Reader)), c);
                await scenario.ServedAgainAsync(c);
                keepers = await HostsAsync(management, scenario.LeaseGrains.Select(l => (l.Reader, (IAddressable)l.Grain)));
                var second = await management.GetActivationAddress(shard);
                progress($"the shard on {second}, with {keepers.Count(k => k.Silo == second)} lease grains");
                await SignalAndWaitAsync(management, silos, await IndexAsync(management, second, silos), SigKill, progress,
                    () => scenario.Crashed(keepers.Where(k => k.Silo == second).Select(k => k.Reader)), c);
            }
            else
            {
                foreach (var index in silos.Keys) await SignalAndWaitAsync(management, silos, index, SigTerm, progress, () => { }, c);
            }
        }, cancellation);

        if (json) Console.WriteLine(JsonSerializer.Serialize(report, Output.Json));
        else foreach (var line in report.Lines()) Console.WriteLine(line);
        return report.Passed ? 0 : 2;
    }

    /// <summary>Signals silo <paramref name="index"/>, then waits until its supervisor has started a new process and
    /// the cluster has every silo active again.</summary>
    private static async Task SignalAndWaitAsync(IManagementGrain management, SortedDictionary<int, string> silos, int index,
        int signal, Action<string> progress, Action signalled, CancellationToken cancellation)
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
        signalled();
        var declared = false;
        while (true)
        {
            await Task.Delay(250, cancellation);
            if (clock.Elapsed > ComebackPatience)
                throw new ClusterUnreachableException($"silo {index} did not come back within {ComebackPatience.TotalSeconds} s (is ./run.sh supervising it?)");
            if (!declared && gone is not null && signal == SigKill &&
                (await Transient.RetryAsync(() => management.GetHosts(onlyActive: false), cancellation)).TryGetValue(gone, out var status) && status == SiloStatus.Dead)
            {
                declared = true;
                progress($"silo {index} declared dead {clock.Elapsed.TotalSeconds:F1} s after the kill");
            }
            if (ReadPid(silos[index]) is not { } next || next == pid || Kill(next, 0) != 0 || Kill(pid, 0) == 0) continue;
            var active = await Transient.RetryAsync(() => management.GetHosts(onlyActive: true), cancellation);
            if (active.Count != silos.Count || (gone is not null && active.ContainsKey(gone))) continue;
            progress($"silo {index} back as pid {next}; {active.Count} silos active after {clock.Elapsed.TotalSeconds:F1} s");
            return;
        }
    }

    /// <summary>The silos hosting the given grains (those active somewhere).</summary>
    private static async Task<List<(ReaderId Reader, SiloAddress Silo)>> HostsAsync(IManagementGrain management,
        IEnumerable<(ReaderId Reader, IAddressable Grain)> grains)
    {
        var hosts = new List<(ReaderId, SiloAddress)>();
        foreach (var (reader, grain) in grains)
            if (await Transient.RetryAsync(() => management.GetActivationAddress(grain).AsTask()) is { } silo) hosts.Add((reader, silo));
        return hosts;
    }

    /// <summary>The index of silo <paramref name="host"/>: silo i listens on the i-th lowest silo port (run.sh gives silo
    /// i SiloPort 11111+i). The last silo when that is unknown.</summary>
    private static async Task<int> IndexAsync(IManagementGrain management, SiloAddress? host, SortedDictionary<int, string> silos)
    {
        var ports = (await Transient.RetryAsync(() => management.GetHosts(onlyActive: true))).Keys.Select(s => s.Endpoint.Port).Order().ToList();
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
