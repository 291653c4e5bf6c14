/**
 * What the registry's stores tell a garbage collection of their uses. One implementation per kind
 * of store: `CollectionGuard` below for a store this process owns, where the collection runs in
 * this process; `SharedCollectionGuard` (shared-collection.ts) for one shared by replicas.
 */
export interface UseGuard {
  /** Records a use of `digest` before it is checked, read or written; resolves once it may go on. */
  touch(digest: string): Promise<void> | undefined;
  /** `touch` for several digests at once. */
  hold(digests: readonly string[]): Promise<void> | undefined;
  /** Runs a write that makes content reachable (a manifest put, an upload's completion, a mount). */
  writing<T>(work: () => Promise<T>): Promise<T>;
  /**
   * Called by a write right before its visible writes: false when what it checked may have been
   * deleted meanwhile, and it must check again.
   */
  committing(): Promise<boolean> | true;
  /** Changes whenever a cache may no longer store what a read that began before saw. */
  readonly epoch: number;
}

/** What a write moving a tag holds besides digests, so that a collection's retention leaves the tag alone. */
export function tagHold(name: string, tag: string): string {
  return `tag:${name}:${tag}`;
}

/**
 * What lets a garbage collection run while the registry serves (gc.ts has the whole protocol).
 *
 * - Writes that make something reachable (a manifest put, an upload or a mount storing a blob) run
 *   inside `writing`. `begin` waits for those already under way, so the collector's mark, which
 *   starts after, sees everything they wrote.
 * - From `begin` on, every digest the registry uses (an existence check, a read, a manifest naming
 *   it, a write storing it) is first recorded as *held*, synchronously, before anything else is
 *   done with it (`touch`). The collector, for each digest it would delete, asks `claim` in one
 *   synchronous step: a held digest is kept; an unheld one is from then on *being deleted*, and a
 *   use that comes after waits in `touch` until the deletion is over, then finds it gone (and a
 *   write then stores it again). Either the use came first and the digest stays, or the deletion
 *   came first and the use sees it missing: never a use that found a digest deleted behind it.
 * - A cache fills only with what it read while no claim was made (`epoch` unchanged): a read that
 *   began before a deletion cannot store, after it, that the deleted thing exists.
 *
 * When no collection runs, `touch` costs one property read.
 */
export class CollectionGuard implements UseGuard {
  private held: Set<string> | undefined;
  private readonly deleting = new Map<string, { done: Promise<void>; finish: () => void }>();
  private generation = 0;
  private readonly writes = new Map<number, number>();
  private drained: (() => void) | undefined;
  /** Changes with every claim: a cache stores what it read only if this did not change meanwhile. */
  epoch = 0;

  /** Records a use of `digest`; when it is being deleted, resolves once that is over. */
  touch(digest: string): Promise<void> | undefined {
    if (this.held === undefined) return undefined;
    this.held.add(digest);
    return this.deleting.get(digest)?.done;
  }

  hold(digests: readonly string[]): Promise<void> | undefined {
    if (this.held === undefined) return undefined;
    const waits = digests.map((d) => this.touch(d)).filter((p) => p !== undefined);
    return waits.length === 0 ? undefined : Promise.all(waits).then(() => undefined);
  }

  /** Uses hold synchronously here: nothing checked can have been deleted before the visible writes. */
  committing(): true {
    return true;
  }

  /** Runs a write that makes content reachable; a collection starting meanwhile waits for it. */
  async writing<T>(work: () => Promise<T>): Promise<T> {
    const generation = this.generation;
    this.writes.set(generation, (this.writes.get(generation) ?? 0) + 1);
    try {
      return await work();
    } finally {
      const left = this.writes.get(generation)! - 1;
      if (left === 0) this.writes.delete(generation);
      else this.writes.set(generation, left);
      if (this.drained !== undefined && this.olderWrites() === 0) this.drained();
    }
  }

  /** Whether a collection is running. */
  get active(): boolean {
    return this.held !== undefined;
  }

  /**
   * Starts a collection: from here on, what is used is held; resolves once every write begun
   * before is over.
   */
  async begin(): Promise<void> {
    if (this.held !== undefined) throw new Error("a garbage collection is already running");
    this.held = new Set();
    this.generation++;
    if (this.olderWrites() > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    this.drained = undefined;
  }

  /** Whether `digest` has been used since `begin`. */
  isHeld(digest: string): boolean {
    return this.held?.has(digest) === true;
  }

  /**
   * Takes `digest` for deletion unless it has been used since `begin`; once taken, uses wait until
   * `release(digest)`.
   */
  claim(digest: string): boolean {
    if (this.held === undefined) throw new Error("no garbage collection is running");
    if (this.held.has(digest) || this.deleting.has(digest)) return false;
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    this.deleting.set(digest, { done, finish });
    this.epoch++;
    return true;
  }

  /** Ends the deletion of a claimed digest: uses waiting for it go on, and find it gone. */
  release(digest: string): void {
    const entry = this.deleting.get(digest);
    if (entry === undefined) return;
    this.deleting.delete(digest);
    entry.finish();
  }

  /** Ends the collection. */
  end(): void {
    for (const digest of [...this.deleting.keys()]) this.release(digest);
    this.held = undefined;
  }

  private olderWrites(): number {
    let count = 0;
    for (const [generation, n] of this.writes) if (generation < this.generation) count += n;
    return count;
  }
}
