import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { isPathNotFound, type StorageDriver } from "../storage/driver.js";
import { inParallel } from "../image/parallel.js";
import type { UseGuard } from "./collection-guard.js";
import { listIfExists } from "./links.js";

/**
 * Garbage collection of a shared store (replicas on one bucket): the hold and the claims of
 * collection-guard.ts, published in the store, where every replica and the collector meet.
 *
 * Objects, beside registry:2's tree (which ignores them):
 *   /.lading-gc/state                       the collection state: generation, phase, heartbeat
 *   /.lading-gc/<generation>/holds/<name>   digests a replica's write used while it ran
 *   /.lading-gc/<generation>/claims         the digests the collector deletes, written once
 *
 * The protocol, with W the window (`lading.gc.window`, the same on every replica and collector):
 * 1. A collector announces: it writes the state `collecting` with the next generation, and renews
 *    it every W/4 (the heartbeat). It waits W before it marks.
 * 2. Every replica reads the state every W/8. A write (a manifest put, an upload's completion, a
 *    mount) starts on a reading no older than W/4, and records every digest it uses (and every
 *    tag it moves, so that retention leaves the tag alone).
 *    - If that reading said `idle`, and the write's visible writes have landed within W/2 of the
 *      reading having been sent, the write is over before any mark that could miss it: a
 *      collection announced after the reading marks W after announcing. (Only the pace of the
 *      clocks is assumed alike, never their time.)
 *    - Otherwise the write publishes its digests as a hold in the running collection before its
 *      checks (or, if it learns of the collection later, before its visible writes), then reads
 *      that collection's claims. Not claimed: the collector reads the holds after it wrote its
 *      claims, so it sees this hold and keeps them. Claimed: the write waits until the collection
 *      is over, then checks again and finds the digest gone (a manifest put fails with
 *      MANIFEST_BLOB_UNKNOWN, a mount becomes an upload, an upload stores the bytes again).
 *    - A write that learns only after its visible writes that collections ran meanwhile (it took
 *      longer than W/2) checks their claims; if one of its digests was deleted, it fails instead
 *      of answering success (logged: it cannot happen to a write faster than W/2).
 * 3. After the mark, the collector writes its claims (what it would delete), then reads every hold,
 *    and deletes what is claimed and not held. Then it writes the state `idle`.
 * 4. Caches: a replica forgets every existence it believed (blob sizes and bytes, links,
 *    revisions) whenever it sees a collection end or a new generation, and a read that began
 *    before that does not store what it saw (the epoch).
 * 5. A collector that stops renewing for 3W is taken to be dead: replicas treat its collection as
 *    over, and a collector that cannot renew within W stops deleting. A second collector takes
 *    over only a state that did not change for one window, and one of two that start together
 *    gives up (the state names the last writer).
 */

export const coordinationRoot = "/.lading-gc";
const statePath = `${coordinationRoot}/state`;
const generationPath = (generation: number): string => `${coordinationRoot}/${generation}`;
const claimsPath = (generation: number): string => `${generationPath(generation)}/claims`;
const holdsPath = (generation: number): string => `${generationPath(generation)}/holds`;
/** The claims of this many past collections stay, for a write that spans several of them. */
const generationsKept = 16;

export interface CollectionState {
  generation: number;
  phase: "collecting" | "idle";
  /** Who wrote it: a collector's identity. */
  id: string;
  /** Renewed by the collector while it collects. */
  beat: number;
}

const noCollection: CollectionState = { generation: 0, phase: "idle", id: "", beat: 0 };

export async function readState(driver: StorageDriver): Promise<CollectionState> {
  let content: Buffer;
  try {
    content = await driver.getContent(statePath);
  } catch (err) {
    if (isPathNotFound(err)) return noCollection;
    throw err;
  }
  const parsed = JSON.parse(content.toString("utf8")) as Partial<CollectionState>;
  if (typeof parsed.generation !== "number" || (parsed.phase !== "collecting" && parsed.phase !== "idle")) throw new Error(`${statePath} is not a collection state`);
  return { generation: parsed.generation, phase: parsed.phase, id: String(parsed.id ?? ""), beat: Number(parsed.beat ?? 0) };
}

async function writeState(driver: StorageDriver, state: CollectionState): Promise<void> {
  await driver.putContent(statePath, Buffer.from(JSON.stringify(state)));
}

/** The claims of a collection, or undefined when it has written none (yet). */
async function readClaims(driver: StorageDriver, generation: number): Promise<Set<string> | undefined> {
  try {
    return new Set(JSON.parse((await driver.getContent(claimsPath(generation))).toString("utf8")) as string[]);
  } catch (err) {
    if (isPathNotFound(err)) return undefined;
    throw err;
  }
}

/** A reading of the state: when its request was sent (this process's clock), and what it said. */
interface Reading {
  at: number;
  state: CollectionState;
  /** The state says `collecting`, and its collector is alive. */
  collecting: boolean;
}

/** What a write running on a replica has used, and what covers it. */
interface Write {
  digests: Set<string>;
  /** Collections up to this generation had ended (or were running) when the write last checked. */
  since: number;
  /** Per running collection it learnt of, the digests it published as held there. */
  heldIn: Map<number, Set<string>>;
}

/** Thrown by a write whose digest a collection deleted after the write had used it (2. above). */
export class CollectedMeanwhile extends Error {}

/**
 * A replica's side of the protocol: what the registry's stores tell of their uses, and what holds
 * them in a collection running in another process.
 */
export class SharedCollectionGuard implements UseGuard {
  epoch = 0;
  private latest: Reading | undefined;
  private inFlight: Promise<Reading> | undefined;
  private inFlightAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly writes = new AsyncLocalStorage<Write>();
  private readonly claims = new Map<number, Set<string>>();
  /** The heartbeat last seen, and since when (a collector's death). */
  private beat: { generation: number; beat: number; since: number } | undefined;
  private readonly name = randomUUID();
  private sequence = 0;

  constructor(
    private readonly driver: StorageDriver,
    readonly windowMs: number,
    /** Forgets every existence the registry's caches hold. */
    private readonly forgetAll: () => void,
    private readonly log: (message: string) => void = () => {},
  ) {
    this.timer = setInterval(() => {
      if (this.inFlight !== undefined) return; // a slow store: one reading at a time
      this.reading(performance.now()).catch((err: unknown) => this.log(`reading the garbage collection state failed: ${(err as Error).message}`));
    }, windowMs / 8);
    this.timer.unref();
  }

  touch(digest: string): Promise<void> | undefined {
    return this.hold([digest]);
  }

  hold(digests: readonly string[]): Promise<void> | undefined {
    const write = this.writes.getStore();
    if (write === undefined) return undefined;
    const before = write.digests.size;
    digests.forEach((d) => write.digests.add(d));
    if (write.digests.size === before || this.latest?.collecting !== true) return undefined;
    const generation = this.latest.state.generation;
    return this.publish(write, generation).then((claimed) => (claimed.length > 0 ? this.over(generation) : undefined));
  }

  async writing<T>(work: () => Promise<T>): Promise<T> {
    const basis = await this.reading(performance.now() - this.windowMs / 4);
    const write: Write = { digests: new Set(), since: basis.collecting ? basis.state.generation - 1 : basis.state.generation, heldIn: new Map() };
    const result = await this.writes.run(write, work);
    await this.landed(write);
    return result;
  }

  /**
   * Called right before a write's visible writes: false when something it checked may have been
   * deleted meanwhile (it then checks again, and finds what is gone).
   */
  async committing(): Promise<boolean> {
    const write = this.writes.getStore();
    if (write === undefined) return true;
    const reading = await this.reading(performance.now() - this.windowMs / 4);
    const deleted = await this.deletedMeanwhile(write, reading);
    if (reading.collecting) {
      const claimed = await this.publish(write, reading.state.generation);
      if (claimed.length > 0) {
        await this.over(reading.state.generation);
        return false;
      }
    }
    if (deleted.length === 0) return true;
    write.since = reading.collecting ? reading.state.generation - 1 : reading.state.generation;
    return false;
  }

  /** Stops reading the state. */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A reading sent at `after` or later: the latest, one under way, or a new one. */
  private async reading(after: number): Promise<Reading> {
    if (this.latest !== undefined && this.latest.at >= after) return this.latest;
    if (this.inFlight !== undefined && this.inFlightAt >= after) return this.inFlight;
    const at = performance.now();
    const pending = readState(this.driver).then((state) => this.absorb({ at, state, collecting: state.phase === "collecting" }));
    this.inFlight = pending;
    this.inFlightAt = at;
    try {
      return await pending;
    } finally {
      if (this.inFlight === pending) this.inFlight = undefined;
    }
  }

  /** Takes in a reading: a collector that stopped renewing is dead; a collection over clears the caches. */
  private absorb(reading: Reading): Reading {
    const { state } = reading;
    if (state.phase === "collecting") {
      const beat = this.beat;
      if (beat === undefined || beat.generation !== state.generation || beat.beat !== state.beat) this.beat = { generation: state.generation, beat: state.beat, since: reading.at };
      else if (reading.at - beat.since > 3 * this.windowMs) reading.collecting = false;
    }
    const previous = this.latest;
    if (previous !== undefined && reading.at < previous.at) return reading; // an older reading answered late
    if (previous === undefined || previous.state.generation !== state.generation || (previous.collecting && !reading.collecting)) {
      this.forgetAll();
      this.epoch++;
    }
    this.latest = reading;
    return reading;
  }

  /**
   * Writes a hold of the write's digests not yet held in collection `generation`, then reads its
   * claims: those of them claimed (the collector may have read the holds before this one).
   * Claims read after a hold that do not name a digest never will: the collector sees the hold.
   */
  private async publish(write: Write, generation: number): Promise<string[]> {
    let published = write.heldIn.get(generation);
    if (published === undefined) write.heldIn.set(generation, (published = new Set()));
    const fresh = [...write.digests].filter((d) => !published.has(d));
    if (fresh.length === 0) return [];
    await this.driver.putContent(`${holdsPath(generation)}/${this.name}-${this.sequence++}`, Buffer.from(fresh.join("\n")));
    fresh.forEach((d) => published.add(d));
    const claims = await this.claimsOf(generation);
    return claims === undefined ? [] : fresh.filter((d) => claims.has(d));
  }

  /** A collection's claims, once written (they never change then). */
  private async claimsOf(generation: number): Promise<Set<string> | undefined> {
    const known = this.claims.get(generation);
    if (known !== undefined) return known;
    const claims = await readClaims(this.driver, generation);
    if (claims !== undefined) {
      this.claims.set(generation, claims);
      for (const old of this.claims.keys()) if (old <= generation - generationsKept) this.claims.delete(old);
    }
    return claims;
  }

  /**
   * The write's digests claimed by collections that ran, up to `reading`, after the write last
   * checked and without holding it (it did not know of them).
   */
  private async deletedMeanwhile(write: Write, reading: Reading): Promise<string[]> {
    const last = reading.collecting ? reading.state.generation - 1 : reading.state.generation;
    const found: string[] = [];
    for (let generation = write.since + 1; generation <= last; generation++) {
      if (write.heldIn.has(generation)) continue;
      const claims = await this.claimsOf(generation);
      for (const d of write.digests) if (claims?.has(d)) found.push(d);
    }
    return found;
  }

  /** Resolves once collection `generation` is over. */
  private async over(generation: number): Promise<void> {
    for (;;) {
      const reading = await this.reading(performance.now());
      if (reading.state.generation !== generation || !reading.collecting) return;
      await sleep(this.windowMs / 8);
    }
  }

  /**
   * After a write's visible writes, with a reading sent less than W/2 before they landed: every
   * collection it shows either held the write's digests, or ran and did not claim them; else the
   * write fails.
   */
  private async landed(write: Write): Promise<void> {
    const now = performance.now();
    const reading = this.latest !== undefined && now - this.latest.at < this.windowMs / 2 ? this.latest : await this.reading(now);
    const deleted = await this.deletedMeanwhile(write, reading);
    if (reading.collecting) deleted.push(...(await this.publish(write, reading.state.generation)));
    if (deleted.length === 0) return;
    this.log(`a write used ${deleted.join(", ")}, which a garbage collection deleted meanwhile: it took longer than half the collection window (lading.gc.window), and fails`);
    throw new CollectedMeanwhile(`a garbage collection deleted ${deleted[0]} while this request used it; push again`);
  }
}

/**
 * The collector's side: announce, renew, claim, read the holds, end. One at a time per store.
 */
export class SharedCollection {
  private beatTimer: NodeJS.Timeout | undefined;
  private lastRenewed = performance.now();
  private renewing: Promise<void> = Promise.resolve();
  private failure: Error | undefined;

  private constructor(
    private readonly driver: StorageDriver,
    readonly windowMs: number,
    private state: CollectionState,
  ) {}

  get generation(): number {
    return this.state.generation;
  }

  /**
   * Announces a collection and waits one window; refuses (`Refused`) when another collector runs.
   */
  static async begin(driver: StorageDriver, windowMs: number, refuse: (message: string) => Error): Promise<SharedCollection> {
    let current = await readState(driver);
    if (current.phase === "collecting") {
      // Alive if it renews within a window; else its collector died and this one takes over.
      await sleep(windowMs);
      const again = await readState(driver);
      if (again.generation !== current.generation || again.beat !== current.beat || again.phase !== "collecting") throw refuse("another garbage collection is running on this store");
      current = again;
    }
    const state: CollectionState = { generation: current.generation + 1, phase: "collecting", id: randomUUID(), beat: 0 };
    await writeState(driver, state);
    const collection = new SharedCollection(driver, windowMs, state);
    collection.beatTimer = setInterval(() => collection.renew(), windowMs / 4);
    collection.beatTimer.unref();
    await sleep(windowMs);
    const now = await readState(driver);
    if (now.id !== state.id) {
      collection.stopBeating();
      throw refuse("another garbage collection started at the same time on this store");
    }
    return collection;
  }

  private renew(): void {
    this.renewing = this.renewing.then(async () => {
      const sent = performance.now();
      const next = { ...this.state, beat: this.state.beat + 1 };
      try {
        await writeState(this.driver, next);
        this.state = next;
        this.lastRenewed = sent;
      } catch (err) {
        this.failure = err as Error;
      }
    });
  }

  /** Throws unless the replicas still know this collection runs (it renewed within a window). */
  alive(): void {
    if (performance.now() - this.lastRenewed > this.windowMs) {
      throw new Error(`the garbage collection could not renew its state in the store for ${this.windowMs} ms${this.failure ? ` (${this.failure.message})` : ""}: stopped before deleting more`);
    }
  }

  /** Writes the claims, then reads the holds: the claimed digests that no write holds. */
  async claim(digests: readonly string[]): Promise<Set<string>> {
    this.alive();
    await this.driver.putContent(claimsPath(this.generation), Buffer.from(JSON.stringify(digests)));
    const held = new Set<string>();
    const names = await listIfExists(this.driver, holdsPath(this.generation));
    const contents = await inParallel(names, 16, (name) => this.driver.getContent(`${holdsPath(this.generation)}/${name}`));
    for (const content of contents) for (const d of content.toString("utf8").split("\n")) if (d !== "") held.add(d);
    return new Set(digests.filter((d) => !held.has(d)));
  }

  /** Ends the collection (also after a failure): the state says idle, old generations go. */
  async end(): Promise<void> {
    this.stopBeating();
    await this.renewing;
    await writeState(this.driver, { ...this.state, phase: "idle", beat: this.state.beat + 1 });
    for (const name of await listIfExists(this.driver, coordinationRoot)) {
      const generation = Number(name);
      if (Number.isInteger(generation) && generation <= this.generation - generationsKept) await this.driver.delete(generationPath(generation)).catch(() => {});
    }
  }

  private stopBeating(): void {
    if (this.beatTimer !== undefined) clearInterval(this.beatTimer);
    this.beatTimer = undefined;
  }
}
