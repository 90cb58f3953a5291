namespace Orleans.Leases.Tests.Infrastructure;

internal static class U
{
    public static Update At(ulong time, string key, string value = "v", long diff = 1) => new(key, value, time, diff);

    public static Frontier F(ulong time) => Frontier.At(time);
}
