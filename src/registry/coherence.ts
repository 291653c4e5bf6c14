import type { StorageDriver } from "../storage/driver.js";
import { Lru } from "./lru.js";

/**
 * What the registry's caches may assume, stated in one place.
 *
 * - Named by a digest (a blob's bytes, a manifest's bytes and parsed facts): never changes. Cached
 *   in memory, bounded by size only.
 * - Can change under another process: tags and tag lists; whether a blob exists; whether a
 *   repository holds a blob link or a manifest revision; the catalog; upload state.
 *   - On a store this process owns alone (`exclusive`: the filesystem and memory drivers), its own
 *     writes are the only changes, and they keep every cache exact: cached until evicted.
 *   - On a shared store (replicas on one bucket), tags and tag lists are read through on every
 *     request, so a tag pushed through one replica is served by every other on the next request.
 *     That something exists (a blob, a link, a revision) is believed for `existenceMs` at most, so
 *     a delete by another replica is seen within that bound; every such belief is dropped when a
 *     garbage collection ends (shared-collection.ts), and a write never relies on one while a
 *     collection might delete it. The catalog
 *     is walked again when older than `catalogMs`, and only when asked for. Upload state is never
 *     cached: any replica takes any request of an upload. Such beliefs answer reads only: a write
 *     (a link, a revision, a blob's bytes) is never skipped because this process believes its
 *     result is stored, since another replica may have deleted it meanwhile, and the push would
 *     answer 201 having stored nothing.
 */
export interface Coherence {
  /** Tags and tag lists may be kept in memory. */
  readonly cacheTags: boolean;
  /** How long a fact that another process can end is believed, in ms (Infinity: until evicted). */
  readonly existenceMs: number;
  /** How long a walked catalog is believed, in ms. */
  readonly catalogMs: number;
  /** A write whose result this process has seen stored may be left out. */
  readonly skipKnownWrites: boolean;
}

/** On a shared store: how long another replica's delete can go unseen. */
export const sharedExistenceMs = 10_000;
export const sharedCatalogMs = 10_000;

export function coherenceFor(driver: StorageDriver): Coherence {
  return driver.capabilities.exclusive
    ? { cacheTags: true, existenceMs: Infinity, catalogMs: Infinity, skipKnownWrites: true }
    : { cacheTags: false, existenceMs: sharedExistenceMs, catalogMs: sharedCatalogMs, skipKnownWrites: false };
}

/** An LRU whose entries are believed for `ttlMs` at most (Infinity: no clock is read). */
export class ExpiringLru<K, V> {
  private readonly entries: Lru<K, { value: V; until: number }>;

  constructor(
    maxWeight: number,
    weigh: (value: V, key: K) => number,
    private readonly ttlMs: number,
  ) {
    this.entries = new Lru(maxWeight, (entry, key) => weigh(entry.value, key) + 32);
  }

  get(key: K): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (this.ttlMs !== Infinity && entry.until <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: K, value: V): void {
    if (this.ttlMs <= 0) return;
    this.entries.set(key, { value, until: this.ttlMs === Infinity ? Infinity : Date.now() + this.ttlMs });
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}
