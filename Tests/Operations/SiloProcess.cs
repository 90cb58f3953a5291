using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Orleans.Leases.Tests.Infrastructure;

namespace Orleans.Leases.Tests.Operations;

/// <summary>
/// The real silo program (the Silo project's build output) run as a child process with settings given as environment
/// variables, as an operator runs it.
/// </summary>
public sealed class SiloProcess : IAsyncDisposable
{
    /// <summary>The line the silo prints once it serves.</summary>
    private const string UpLine = "Silo up:";

    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly StringBuilder _errors = new();
    private readonly TaskCompletionSource _up = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private SiloProcess(Process process) => _process = process;

    public string Output { get { lock (_output) return _output.ToString(); } }

    public string Errors { get { lock (_errors) return _errors.ToString(); } }

    /// <summary>The silo program beside this test build: Silo/bin/&lt;configuration&gt;/net10.0.</summary>
    public static string Program =>
        Path.Combine(Repository.Root, "Silo", "bin", Repository.Configuration, Repository.TargetFramework, "Orleans.Leases.Silo.dll");

    /// <summary>Starts the silo with <paramref name="settings"/> (e.g. <c>Silo__GatewayPort</c>) on top of
    /// the defaults in its appsettings.json; settings of the same name in this process's environment are replaced.</summary>
    public static SiloProcess Start(IReadOnlyDictionary<string, string> settings)
    {
        var program = Program;
        if (!File.Exists(program)) throw new InvalidOperationException($"the silo is not built: {program}");
        var start = new ProcessStartInfo("dotnet", [program])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(program)!,
        };
        // A test run inside ./run.sh's environment must not inherit its cluster.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("Cluster__") || k.StartsWith("Silo__") || k.StartsWith("Leases__")).ToList())
            start.Environment.Remove(name);
        foreach (var (name, value) in settings) start.Environment[name] = value;

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var silo = new SiloProcess(process);
        process.OutputDataReceived += (_, line) =>
        {
            if (line.Data is null) return;
            lock (silo._output) silo._output.AppendLine(line.Data);
            if (line.Data.StartsWith(UpLine)) silo._up.TrySetResult();
        };
        process.ErrorDataReceived += (_, line) =>
        {
            if (line.Data is null) return;
            lock (silo._errors) silo._errors.AppendLine(line.Data);
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return silo;
    }

    /// <summary>Waits until the silo serves; fails with its output if it exits first.</summary>
    public async Task WaitUntilUpAsync(TimeSpan patience)
    {
        var exited = _process.WaitForExitAsync();
        var first = await Task.WhenAny(_up.Task, exited, Task.Delay(patience));
        if (first == _up.Task) return;
        var why = first == exited ? $"exited with {_process.ExitCode}" : $"was not up within {patience.TotalSeconds:0} s";
        throw new InvalidOperationException($"the silo {why}.\nstdout:\n{Output}\nstderr:\n{Errors}");
    }

    /// <summary>Waits for the process to end (it is expected to), answering its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan patience)
    {
        using var timeout = new CancellationTokenSource(patience);
        await _process.WaitForExitAsync(timeout.Token);
        _process.WaitForExit();   // drains the output readers
        return _process.ExitCode;
    }

    /// <summary>Asks the silo to stop (SIGTERM), as an operator or a supervisor does; returns at once.</summary>
    public void Terminate() => _ = Kill(_process.Id, Sigterm);

    /// <summary>Kills the process at once (SIGKILL): a crash, nothing flushed or said goodbye.</summary>
    public void Crash()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>Ports no one listens on now, from the OS (so parallel runs do not collide).</summary>
    public static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        listeners.ForEach(l => l.Start());
        var ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        listeners.ForEach(l => l.Stop());
        return ports;
    }

    /// <summary>Stops the silo as an operator would (SIGTERM: a graceful shutdown that leaves the cluster), killing
    /// it if it does not stop in time.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _ = Kill(_process.Id, Sigterm);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        _process.Dispose();
    }

    private const int Sigterm = 15;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
