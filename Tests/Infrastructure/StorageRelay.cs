using System.Net;
using System.Net.Sockets;

namespace Orleans.Leases.Tests.Infrastructure;

/// <summary>
/// A TCP relay to the test Azurite's blob endpoint, so a test can take storage away from a silo with the data intact:
/// <see cref="Stop"/> drops every connection and refuses new ones (storage down), <see cref="BlackHole"/> keeps
/// connections open but answers nothing (storage hanging: every request waits out its timeout); <see cref="Start"/>
/// brings it back.
/// </summary>
public sealed class StorageRelay : IDisposable
{
    private const int AzuriteBlobPort = 10000;

    private readonly int _port;
    private readonly List<TcpClient> _connections = [];
    private TcpListener? _listener;
    private CancellationTokenSource _relaying = new();

    public StorageRelay(int port = 0)
    {
        _port = port == 0 ? FreePort() : port;
        Start();
    }

    /// <summary>A connection string for Azurite's account through this relay.</summary>
    public string ConnectionString =>
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
        $"BlobEndpoint=http://127.0.0.1:{_port}/devstoreaccount1;";

    public void Start()
    {
        Stop();
        _relaying = new CancellationTokenSource();
        _listener = new TcpListener(IPAddress.Loopback, _port);
        _listener.Start();
        _ = AcceptAsync(_listener, _relaying.Token);
    }

    public void Stop()
    {
        _relaying.Cancel();
        _listener?.Stop();
        _listener = null;
        lock (_connections)
        {
            foreach (var connection in _connections) connection.Dispose();
            _connections.Clear();
        }
    }

    public void BlackHole() => _relaying.Cancel();

    public void Dispose() => Stop();

    private async Task AcceptAsync(TcpListener listener, CancellationToken relaying)
    {
        try
        {
            while (true)
            {
                var inbound = await listener.AcceptTcpClientAsync();
                lock (_connections) _connections.Add(inbound);
                if (relaying.IsCancellationRequested) continue; // a black hole: accepted, never answered
                var outbound = new TcpClient();
                await outbound.ConnectAsync(IPAddress.Loopback, AzuriteBlobPort);
                lock (_connections) _connections.Add(outbound);
                _ = Pump(inbound, outbound, relaying);
                _ = Pump(outbound, inbound, relaying);
            }
        }
        catch (Exception stopped) when (stopped is SocketException or ObjectDisposedException)
        {
            // The relay was stopped.
        }
    }

    private static async Task Pump(TcpClient from, TcpClient to, CancellationToken relaying)
    {
        try
        {
            await from.GetStream().CopyToAsync(to.GetStream(), relaying);
        }
        catch (OperationCanceledException)
        {
            return; // a black hole: both stay open and silent
        }
        catch (Exception closed) when (closed is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // Either side went away.
        }
        to.Dispose();
        from.Dispose();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
