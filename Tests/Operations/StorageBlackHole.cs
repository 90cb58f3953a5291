using System.Net;
using System.Net.Sockets;

namespace Orleans.Leases.Tests.Operations;

/// <summary>
/// A TCP relay to Azurite's blob endpoint that can turn into a black hole: after <see cref="Cut"/> it forwards nothing
/// more and answers nothing, on open connections and new ones alike. Storage that hangs rather than refuses is the
/// worst case for a silo that must stop: every request waits out its timeout.
/// </summary>
public sealed class StorageBlackHole : IAsyncDisposable
{
    private const int AzuriteBlobPort = 10000;

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _cut = new();
    private readonly CancellationTokenSource _closed = new();
    private readonly List<TcpClient> _connections = [];
    private readonly Task _accepting;

    public StorageBlackHole()
    {
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <summary>A connection string for Azurite's account through this relay.</summary>
    public string ConnectionString =>
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
        $"BlobEndpoint=http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/devstoreaccount1;";

    public void Cut() => _cut.Cancel();

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_closed.Token);
                lock (_connections) _connections.Add(client);
                if (!_cut.IsCancellationRequested) _ = RelayAsync(client);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task RelayAsync(TcpClient client)
    {
        using var upstream = new TcpClient();
        try
        {
            await upstream.ConnectAsync(IPAddress.Loopback, AzuriteBlobPort, _cut.Token);
            await Task.WhenAny(
                client.GetStream().CopyToAsync(upstream.GetStream(), _cut.Token),
                upstream.GetStream().CopyToAsync(client.GetStream(), _cut.Token));
        }
        catch (Exception error) when (error is OperationCanceledException or IOException or SocketException)
        {
        }
        // Cut: the client's connection stays open and silent. Otherwise one side closed: close the other.
        if (!_cut.IsCancellationRequested) client.Close();
    }

    public async ValueTask DisposeAsync()
    {
        await _cut.CancelAsync();
        await _closed.CancelAsync();
        _listener.Stop();
        await _accepting;
        lock (_connections) _connections.ForEach(c => c.Close());
    }
}
