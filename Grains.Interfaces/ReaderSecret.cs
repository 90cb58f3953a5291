using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Orleans.Leases;

/// <summary>
/// The capability of the client that opened a reader: 256 random bits, made by the client (<see cref="ReadHandle"/>)
/// and sent with each of the reader's verbs. Knowing a shard or reader id is not enough to act for a reader; the
/// service keeps only the secret's hash.
/// </summary>
[GenerateSerializer, Immutable, Alias("Leases.ReaderSecret")]
public readonly record struct ReaderSecret
{
    private const int Bytes = 32;
    private static readonly int EncodedLength = Base64Url.GetEncodedLength(Bytes);

    [Id(0)] public string Value { get; }

    private ReaderSecret(string value) => Value = value;

    public static ReaderSecret New() => new(Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(Bytes)));

    /// <summary>The hash the service keeps (hex SHA-256); throws <see cref="AccessDeniedException"/> for a value that
    /// is not a secret this type made.</summary>
    public string Hash()
    {
        if (Value is null || Value.Length != EncodedLength || !Base64Url.IsValid(Value))
            throw new AccessDeniedException("A reader's verbs need the secret its client opened it with.");
        return Convert.ToHexString(SHA256.HashData(Encoding.ASCII.GetBytes(Value)));
    }

    /// <summary>True when this is the secret whose hash is <paramref name="hash"/> (compared in constant time).</summary>
    public bool Matches(string hash) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Hash()), Encoding.ASCII.GetBytes(hash));

    public override string ToString() => "ReaderSecret(…)"; // never logged or printed
}
