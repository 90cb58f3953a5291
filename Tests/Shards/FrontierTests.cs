using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Shards;

public sealed class FrontierTests
{
    /// <summary>What a caller can send: empty, with a time the service never sets.</summary>
    private static readonly Frontier EmptyAtFive = new() { IsEmpty = true, Time = 5 };

    [Fact]
    public void Every_empty_frontier_equals_the_empty_frontier_whatever_its_time()
    {
        Assert.Equal(0, EmptyAtFive.CompareTo(Frontier.Empty));
        Assert.True(EmptyAtFive == Frontier.Empty);
        Assert.False(EmptyAtFive != Frontier.Empty);
        Assert.True(EmptyAtFive.Equals((object)Frontier.Empty));
        Assert.Equal(Frontier.Empty.GetHashCode(), EmptyAtFive.GetHashCode());
    }

    [Fact]
    public void Frontiers_at_a_time_are_equal_only_at_the_same_time()
    {
        Assert.True(F(5) == F(5));
        Assert.True(F(5) != F(6));
        Assert.True(F(5) != EmptyAtFive);
        Assert.True(Frontier.Minimum != Frontier.Empty);
        Assert.Equal(F(5).GetHashCode(), Frontier.At(5).GetHashCode());
    }

    [Fact]
    public void An_empty_frontier_with_a_time_finds_the_empty_frontiers_dictionary_entry()
    {
        var byFrontier = new Dictionary<Frontier, string> { [Frontier.Empty] = "closed", [F(5)] = "five" };

        Assert.Equal("closed", byFrontier[EmptyAtFive]);
        Assert.Equal(2, new HashSet<Frontier> { Frontier.Empty, EmptyAtFive, F(5), F(5) }.Count);
    }

    [Fact]
    public void An_empty_frontier_with_a_time_from_the_wire_equals_the_empty_frontier()
    {
        var wire = new ServiceCollection().AddSerializer().BuildServiceProvider().GetRequiredService<Serializer>();

        var received = wire.Deserialize<Frontier>(wire.SerializeToArray(EmptyAtFive));

        Assert.Equal((true, 5UL), (received.IsEmpty, received.Time)); // the shape arrives as sent
        Assert.True(received == Frontier.Empty);
        Assert.Equal(Frontier.Empty.GetHashCode(), received.GetHashCode());
    }
}
