/**
 * A bounded map that forgets entries not used lately once `maxWeight` is exceeded: the "second
 * chance" (CLOCK) approximation of least-recently-used. A hit only marks its entry, and a `set` of
 * a key already there changes its entry in place; the map's table changes when a key comes or goes
 * alone. Moving an entry to the back on every hit (delete and set) stored each request's freshly
 * built key in the table, which kept it alive into the old generation: at tens of thousands of
 * hits a second, that was most of the server's old garbage.
 */
export class Lru<K, V> {
  private readonly entries = new Map<K, { value: V; weight: number; used: boolean }>();
  private weight = 0;

  constructor(
    private readonly maxWeight: number,
    private readonly weigh: (value: V, key: K) => number = () => 1,
  ) {}

  get(key: K): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    entry.used = true;
    return entry.value;
  }

  set(key: K, value: V): void {
    const weight = this.weigh(value, key);
    const existing = this.entries.get(key);
    if (weight > this.maxWeight) {
      this.delete(key);
      return;
    }
    if (existing) {
      // In place, as a use: the table keeps the key it has.
      this.weight += weight - existing.weight;
      existing.value = value;
      existing.weight = weight;
      existing.used = true;
    } else {
      this.entries.set(key, { value, weight, used: false });
      this.weight += weight;
    }
    // From the oldest: an entry used since it was last passed goes to the back, unmarked, once
    // (as does the new one, not to be the first to go); the first unused one goes.
    let spared = false;
    for (const [oldest, entry] of this.entries) {
      if (this.weight <= this.maxWeight) break;
      this.entries.delete(oldest);
      const fresh: boolean = oldest === key && !spared;
      if (entry.used || fresh) {
        spared ||= fresh;
        entry.used = false;
        this.entries.set(oldest, entry);
      } else {
        this.weight -= entry.weight;
      }
    }
  }

  delete(key: K): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.weight -= entry.weight;
  }

  clear(): void {
    this.entries.clear();
    this.weight = 0;
  }
}

/**
 * About what an entry keyed by a string costs the heap, beyond its value: the key (one byte a
 * character, and a header), the entry and its slot in the map's table. Caches weigh by it, so that
 * their bounds are in bytes, whatever their keys' lengths.
 */
export function keyBytes(key: string): number {
  return key.length + 96;
}

/** A weigher for entries whose values cost next to nothing beside their string keys. */
export function byKey(_: unknown, key: string): number {
  return keyBytes(key);
}
