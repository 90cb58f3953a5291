using System.Collections.Immutable;

namespace Orleans.Leases.Parts;

/// <summary>The silo's recently read parts, decoded, least recently used first out once their stored bytes pass
/// <see cref="CapacityBytes"/>. Parts never change once named, so an entry is never stale; a read in flight is shared,
/// so readers asking at once for a part not yet here read it from storage once.</summary>
/// <remarks>Our own LRU rather than MemoryCache: with a SizeLimit, MemoryCache refuses an entry that does not fit and
/// compacts later in the background, so it keeps neither the newest part nor a least-recently-used order.</remarks>
internal sealed class PartCache(long capacityBytes)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, LinkedListNode<Entry>> _entries = new(StringComparer.Ordinal);
    private readonly LinkedList<Entry> _recency = new(); // most recently used first
    private long _bytes; // sum of the sizes of completed entries: in flight ones count once read

    public long CapacityBytes { get; } = capacityBytes;

    /// <summary>Stored bytes of the parts held.</summary>
    public long Bytes { get { lock (_lock) return _bytes; } }

    /// <summary>Parts held or being read.</summary>
    public int Count { get { lock (_lock) return _entries.Count; } }

    public bool Contains(string name) { lock (_lock) return _entries.ContainsKey(name); }

    /// <summary>The part <paramref name="name"/>: held, being read, or read now by <paramref name="read"/> (which answers
    /// its updates and stored size). <paramref name="hit"/> tells whether storage was spared. A failed read is
    /// forgotten, so the next caller tries storage again.</summary>
    public Task<ImmutableArray<Update>> GetOrRead(string name, Func<Task<StoredPart>> read, out bool hit)
    {
        if (CapacityBytes == 0)
        {
            hit = false;
            return Updates(read());
        }

        var reading = new TaskCompletionSource<ImmutableArray<Update>>(TaskCreationOptions.RunContinuationsAsynchronously);
        LinkedListNode<Entry> node;
        lock (_lock)
        {
            if (_entries.TryGetValue(name, out var found))
            {
                _recency.Remove(found);
                _recency.AddFirst(found);
                hit = true;
                return found.Value.Updates;
            }
            node = _recency.AddFirst(new Entry(name, reading.Task));
            _entries.Add(name, node);
        }
        hit = false;
        _ = Fill(node, read, reading);
        return reading.Task;
    }

    /// <summary>Drops <paramref name="name"/> (a deleted part) so its memory goes with it.</summary>
    public void Remove(string name)
    {
        lock (_lock)
            if (_entries.TryGetValue(name, out var node)) Drop(node);
    }

    private async Task Fill(LinkedListNode<Entry> node, Func<Task<StoredPart>> read, TaskCompletionSource<ImmutableArray<Update>> reading)
    {
        StoredPart part;
        try
        {
            part = await read();
        }
        catch (Exception error)
        {
            lock (_lock)
                if (node.List is not null) Drop(node);
            reading.SetException(error);
            return;
        }

        lock (_lock)
        {
            if (node.List is not null) // still held: not removed or evicted while it was read
            {
                node.Value.Bytes = part.Bytes;
                _bytes += part.Bytes;
                if (part.Bytes > CapacityBytes) Drop(node); // larger than the whole cache: evicting others would not fit it
                while (_bytes > CapacityBytes && _recency.Last is { } oldest) Drop(oldest);
            }
        }
        reading.SetResult(part.Updates);
    }

    private static async Task<ImmutableArray<Update>> Updates(Task<StoredPart> read) => (await read).Updates;

    private void Drop(LinkedListNode<Entry> node)
    {
        _recency.Remove(node);
        _entries.Remove(node.Value.Name);
        _bytes -= node.Value.Bytes;
    }

    private sealed class Entry(string name, Task<ImmutableArray<Update>> updates)
    {
        public string Name { get; } = name;
        public Task<ImmutableArray<Update>> Updates { get; } = updates;
        public long Bytes { get; set; } // 0 while in flight
    }
}

/// <summary>A part's updates as read from storage, and the size of its blob.</summary>
internal readonly record struct StoredPart(ImmutableArray<Update> Updates, long Bytes);
