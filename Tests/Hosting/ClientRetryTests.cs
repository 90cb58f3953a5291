using Microsoft.Extensions.DependencyInjection;
using Orleans.Hosting;

namespace Orleans.Leases.Tests.Hosting;

/// <summary>The client's retry policy, as an application sets it.</summary>
public sealed class ClientRetryTests
{
    [Fact]
    public async Task A_transient_error_is_tried_as_often_as_the_policy_allows_then_thrown()
    {
        var attempts = 0;
        var policy = new RetryPolicy(3, TimeSpan.Zero, TimeSpan.Zero);

        await Assert.ThrowsAsync<TimeoutException>(() => Transient.RetryAsync(() => { attempts++; return Task.FromException(new TimeoutException()); }, default, policy));

        Assert.Equal(3, attempts);
    }

    [Fact]
    public async Task Any_other_error_is_thrown_at_once()
    {
        var attempts = 0;

        await Assert.ThrowsAsync<LeaseExpiredException>(() => Transient.RetryAsync(() => { attempts++; return Task.FromException(new LeaseExpiredException("r", "ended")); }));

        Assert.Equal(1, attempts);
    }

    [Fact]
    public void The_clients_options_set_its_policy_and_one_that_cannot_run_is_refused()
    {
        var options = new ShardClientOptions { RetryAttempts = 5, FirstRetryDelay = TimeSpan.FromSeconds(1), MaxRetryDelay = TimeSpan.FromSeconds(4) };
        Assert.Equal(new RetryPolicy(5, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(4)), options.Retry);

        Assert.Throws<ArgumentOutOfRangeException>(() => new ShardClientOptions { RetryAttempts = 0 }.Retry);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ShardClientOptions { MaxRetryDelay = TimeSpan.FromMilliseconds(1) }.Retry);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ShardClientOptions { MaxRetryDelay = TimeSpan.MaxValue }.Retry);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ShardClientOptions { FirstRetryDelay = TimeSpan.FromSeconds(-1) }.Retry);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ShardClientOptions { FirstRetryDelay = TimeSpan.Zero }.Retry); // no backoff

        using var services = new ServiceCollection().AddSingleton<IGrainFactory>(_ => null!)
            .AddOrleansLeasesClient(o => o.RetryAttempts = -1).BuildServiceProvider();
        Assert.Throws<ArgumentOutOfRangeException>(() => services.GetRequiredService<ShardClient>());
    }
}
