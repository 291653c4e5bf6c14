/** The fewest entries worth a sweep (see `PendingPaths.sweep`). */
const minSweep = 8192;

/**
 * The operations handed to the apply worker and not yet applied, by the paths they touch, so that
 * a read waits for the writes it would meet. The worker applies them in order, so waiting for the
 * last operation on a path is waiting for all of them.
 *
 * Each operation gets a number. Two maps hold the number of the last operation on each path and,
 * for each directory, of the last operation on a path beneath it. An operation leaves `pending`
 * once applied. Its map entries stay: a number no longer pending means "applied". They are dropped
 * all at once when nothing is pending, or swept first if they pile up. A write then costs one map
 * update per path and per directory not yet marked by the same operation, and no strings or
 * closures that outlive it.
 */
export class PendingPaths {
  private readonly last = new Map<string, number>();
  private readonly lastBelow = new Map<string, number>();
  /** Each pending operation's settlement (it never rejects), by number. */
  private readonly pending = new Map<number, Promise<void>>();
  private count = 0;
  /** How many entries the two maps may reach before applied ones are swept. */
  private sweepAt = minSweep;

  /** Records an operation touching `paths`, pending until `done` settles (either way). */
  add(paths: readonly string[], done: Promise<unknown>): void {
    const n = ++this.count;
    for (const path of paths) this.mark(path, n);
    const settle = (): void => {
      this.pending.delete(n);
      if (this.pending.size > 0) return;
      this.last.clear();
      this.lastBelow.clear();
      this.sweepAt = minSweep;
    };
    this.pending.set(n, done.then(settle, settle));
    if (this.entries > this.sweepAt) this.sweep();
  }

  /**
   * Settles once the pending operations that a read of `path` would meet are applied: those on the
   * path itself and on a directory above it (deleted, say); with `beneath` (a path that may be a
   * directory), also those on every path below it. Undefined, not a promise, when there are none.
   */
  wait(path: string, beneath = false): Promise<unknown> | undefined {
    if (this.pending.size === 0) return undefined;
    const waits: Promise<void>[] = [];
    if (beneath) this.meet(this.lastBelow.get(path), waits);
    for (let p: string | undefined = path; p !== undefined; p = parentOf(p)) this.meet(this.last.get(p), waits);
    return waits.length === 0 ? undefined : Promise.all(waits);
  }

  /** Adds operation `n`'s settlement to `waits` while it is pending. */
  private meet(n: number | undefined, waits: Promise<void>[]): void {
    const pending = n === undefined ? undefined : this.pending.get(n);
    if (pending) waits.push(pending);
  }

  /** Settles once every operation added so far, and any added meanwhile, is applied. */
  async all(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending.values());
  }

  /** Operations not yet applied. */
  get size(): number {
    return this.pending.size;
  }

  /** Entries in the two maps, those of applied operations included. */
  get entries(): number {
    return this.last.size + this.lastBelow.size;
  }

  private mark(path: string, n: number): void {
    this.last.set(path, n);
    for (let dir = parentOf(path); dir !== undefined; dir = parentOf(dir)) {
      // Marked for an earlier path of the same operation, and so is every directory above it.
      if (this.lastBelow.get(dir) === n) return;
      this.lastBelow.set(dir, n);
    }
  }

  /** Drops the entries of applied operations; the next sweep comes once as many again are added. */
  private sweep(): void {
    for (const map of [this.last, this.lastBelow]) {
      for (const [key, n] of map) if (!this.pending.has(n)) map.delete(key);
    }
    this.sweepAt = Math.max(minSweep, 2 * this.entries);
  }
}

/** The directory holding a driver path (`/` for `/a`), or undefined for `/` itself. */
function parentOf(path: string): string | undefined {
  if (path === "/") return undefined;
  const at = path.lastIndexOf("/");
  return at === 0 ? "/" : path.slice(0, at);
}
