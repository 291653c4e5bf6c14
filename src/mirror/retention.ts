import type { Logger } from "pino";
import { parseDigest, type Digest } from "../oci/digest.js";
import type { Registry } from "../registry/index.js";
import { deleteIfExists, listIfExists } from "../registry/links.js";
import { isPathNotFound } from "../storage/driver.js";
import { revisionLinkPath, revisionsAlgorithmPath } from "../storage/paths.js";

/** Where the last pull of each cached manifest is kept, outside registry:2's tree (as the token key is). */
const pullsPath = (repository: string) => `/.lading-mirror/pulls/${repository}.json`;

/** How finely the last pull of a manifest is noted: to the minute, or a tenth of a shorter ttl. */
const pullResolutionMs = 60_000;

/**
 * A mirror's retention: cached manifests not pulled for the upstream's `ttl` are removed (with
 * their tags), as registry:2's proxy removes content `ttl` after it fetched it; a garbage
 * collection then frees the blobs nothing else names. The last pull of each manifest is noted in
 * memory and written to the store every few minutes (merged with what other replicas wrote: the
 * later time wins); a manifest never noted counts from when it was cached.
 */
export class MirrorRetention {
  private readonly pulls = new Map<string, Map<string, number>>();
  /** Per repository, how long a noted pull stands before a newer one replaces it. */
  private readonly resolution = new Map<string, number>();
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly ttlOf: (repository: string) => number | undefined,
    private readonly log: Logger,
  ) {}

  /**
   * Notes that a client pulled `digest` from the mirrored `repository`, to the minute (or a tenth
   * of its ttl): a time stored on every pull kept a fresh number alive per request into the old
   * generation, and retention counts in days.
   */
  pulled(repository: string, digest: string): void {
    const now = Date.now();
    let byDigest = this.pulls.get(repository);
    if (byDigest === undefined) {
      const ttl = this.ttlOf(repository) ?? 0;
      // Kept for good: no pull to note.
      if (ttl <= 0) return;
      this.pulls.set(repository, (byDigest = new Map()));
      this.resolution.set(repository, Math.min(pullResolutionMs, ttl / 10));
    }
    const last = byDigest.get(digest);
    if (last !== undefined && now - last < this.resolution.get(repository)!) return;
    byDigest.set(digest, now);
    this.dirty.add(repository);
  }

  /** Evicts every `intervalMs` (the first time one interval after start). */
  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.running ??= this.evict()
        .then(
          () => undefined,
          (err: unknown) => this.log.error({ err }, "mirror retention failed"),
        )
        .finally(() => (this.running = undefined));
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.running;
    if (this.registry.options.readOnly) return;
    await this.flush().catch((err: unknown) => this.log.warn({ err }, "mirror retention: the last pulls could not be written"));
  }

  /** Removes what has not been pulled for its upstream's ttl; returns what it removed (`repository@digest`). */
  async evict(now = Date.now()): Promise<string[]> {
    await this.flush();
    const removed: string[] = [];
    for (const repository of await this.registry.repositories()) {
      const ttl = this.ttlOf(repository);
      if (ttl === undefined || ttl <= 0) continue;
      const stored = await this.read(repository);
      const kept = new Map<string, number>();
      for (const hex of await listIfExists(this.registry.driver, revisionsAlgorithmPath(repository, "sha256"))) {
        const digest = parseDigest(`sha256:${hex}`);
        if (digest === undefined) continue;
        const noted = stored.get(digest.value);
        const last = noted ?? (await this.cachedAt(repository, digest));
        if (last === undefined || now - last < ttl || !(await this.remove(repository, digest))) {
          if (noted !== undefined) kept.set(digest.value, noted);
          continue;
        }
        removed.push(`${repository}@${digest.value}`);
      }
      // The notes of manifests no longer here (removed now, or deleted otherwise) go with them.
      if (kept.size < stored.size) await this.forget(repository, stored, kept);
    }
    if (removed.length > 0) this.log.info({ removed: removed.length }, "mirror retention: cached manifests not pulled within their upstream's ttl removed");
    return removed;
  }

  /** Deletes a cached manifest; false when it stays (an immutable tag keeps it; one gone meanwhile is gone). */
  private async remove(repository: string, digest: Digest): Promise<boolean> {
    try {
      await this.registry.manifests.delete(repository, digest);
      return true;
    } catch (err) {
      this.log.debug({ err, repository, digest: digest.value }, "mirror retention kept a manifest");
      return false;
    }
  }

  /** Keeps only the `kept` notes of a repository, in memory and in the store (no file once none is left). */
  private async forget(repository: string, stored: Map<string, number>, kept: Map<string, number>): Promise<void> {
    const inMemory = this.pulls.get(repository);
    for (const digest of stored.keys()) if (!kept.has(digest)) inMemory?.delete(digest);
    if (kept.size > 0) {
      await this.registry.driver.putContent(pullsPath(repository), Buffer.from(JSON.stringify(Object.fromEntries(kept))));
      return;
    }
    if (inMemory?.size === 0) this.pulls.delete(repository);
    await deleteIfExists(this.registry.driver, pullsPath(repository));
  }

  /** Writes what was noted since the last flush, merged with what the store holds. */
  private async flush(): Promise<void> {
    for (const repository of [...this.dirty]) {
      this.dirty.delete(repository);
      const merged = await this.read(repository);
      for (const [digest, at] of this.pulls.get(repository) ?? []) merged.set(digest, Math.max(at, merged.get(digest) ?? 0));
      await this.registry.driver.putContent(pullsPath(repository), Buffer.from(JSON.stringify(Object.fromEntries(merged))));
    }
  }

  private async read(repository: string): Promise<Map<string, number>> {
    const merged = new Map<string, number>(this.pulls.get(repository) ?? []);
    try {
      const stored = JSON.parse((await this.registry.driver.getContent(pullsPath(repository))).toString("utf8")) as Record<string, number>;
      for (const [digest, at] of Object.entries(stored)) if (typeof at === "number") merged.set(digest, Math.max(at, merged.get(digest) ?? 0));
    } catch (err) {
      if (!isPathNotFound(err) && !(err instanceof SyntaxError)) throw err;
    }
    return merged;
  }

  /** When a manifest was cached: its revision link's time. */
  private async cachedAt(repository: string, digest: Digest): Promise<number | undefined> {
    try {
      return (await this.registry.driver.stat(revisionLinkPath(repository, digest))).modTime.getTime();
    } catch (err) {
      if (isPathNotFound(err)) return undefined;
      throw err;
    }
  }
}
