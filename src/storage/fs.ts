import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { Readable, type Writable } from "node:stream";
import { promisify } from "node:util";
import {
  PathNotFoundError,
  StorageError,
  StorageUnavailableError,
  readableSource,
  type FileInfo,
  type FileWriter,
  type Mutation,
  type Source,
  type StorageDriver,
  type WriteOptions,
} from "./driver.js";
import { openDirect, sendFile, SlabWriteStream, slabs, slabSize } from "./direct.js";
import { errnoCode } from "./errno.js";
import { Journal, JournalFailedError, type JournalOp } from "./journal.js";
import { claimRoot, type Claim } from "./owner.js";
// Streams run on numeric fds (no FileHandle promise per 1 MiB write).
const openFd = promisify(fs.open);
const fstatFd = promisify(fs.fstat);
const fdatasyncFd = promisify(fs.fdatasync);
const closeFd = promisify(fs.close);

const MiB = 1 << 20;

/** Closes a file's fd and, when it has one, its direct-I/O fd. */
async function closeFds(file: { fd: number; direct: number | undefined }): Promise<void> {
  await Promise.all([closeFd(file.fd), file.direct === undefined ? undefined : closeFd(file.direct)]);
}

/**
 * The prefix of lading's own names under the root: the scratch directory for trees being deleted
 * (emptied when a driver is created) and the temporary file a put writes beside its target before
 * renaming it into place. `list` hides both; registry:2 reads neither.
 */
export const tempPrefix = ".lading-tmp";

export function isTempName(name: string): boolean {
  return name.startsWith(tempPrefix);
}

/** The journal of durable metadata writes, beside registry:2's tree (which never sees it). */
export const journalDir = ".lading-journal";

/** Names of lading's own entries under the root, hidden from `list`. */
function isInternalName(name: string): boolean {
  return name.startsWith(".lading-");
}

const execFileAsync = promisify(execFile);

/** Errors that a replayed operation can meet for good (the tree changed shape since): it is skipped. */
const skippableReplayErrors = new Set(["EISDIR", "ENOTDIR", "ENOTEMPTY", "EEXIST"]);

/**
 * The local filesystem, laid out as registry:2's filesystem driver lays it out under `root`.
 *
 * Durability. Durable metadata writes (putContent, move, delete, batch) are write-ahead journaled:
 * each call's operations become one journal record, concurrent records share one fdatasync (group
 * commit), and only then are they applied to the tree, without syncs of their own, so the tree
 * never holds a change a crash could keep while losing an earlier one it depends on. A checkpoint
 * (by journal size or age, and at `close`) syncs the whole filesystem (syncfs) and drops the journal.
 * Creating the driver replays what a crash left before anything can be served. Blob data is made
 * durable by the writer's `commit` (one fdatasync); the move that publishes it is journaled.
 *
 * Assumption: the filesystem persists metadata operations in the order they were made, as ext4
 * (data=ordered), xfs and btrfs do. fdatasync of a new file then makes its name durable too, and an
 * upload discarded after its data was moved out cannot be persisted without that move.
 */
export class FilesystemDriver implements StorageDriver {
  readonly name = "filesystem";
  readonly exclusive = true;
  readonly root: string;
  /** How many journal records the constructor replayed (what the last run left unsynced). */
  readonly replayed: number;

  private readonly scratch: string;
  private readonly claim: Claim;
  private readonly journal: Journal;
  /** The last application touching each path: applications of one path run in journal order. */
  private readonly applying = new Map<string, Promise<void>>();
  /** The last application deleting each path (a directory, usually), for writes beneath it. */
  private readonly deleting = new Map<string, Promise<void>>();
  /**
   * Applications in flight at once: as many as the thread pool has threads (lading sets 32). Each
   * is a chain of short metadata syscalls, so throughput comes from overlapping chains (measured:
   * 8 at a time gave two thirds of the mounts per second of 32; 64 gave no more than 32).
   */
  private readonly applySlots = new Semaphore(32);
  /** Directories known to exist (made or seen by this process); an entry is dropped when a write meets ENOENT. */
  private knownDirs = new Set<string>();

  /** Whether big objects bypass the page cache (see direct.ts). */
  private readonly directio: boolean;

  constructor(root: string, options: { checkpointBytes?: number; checkpointMs?: number; directio?: boolean } = {}) {
    this.root = resolve(root);
    this.directio = options.directio ?? true;
    this.scratch = join(this.root, tempPrefix);
    fs.mkdirSync(this.scratch, { recursive: true });
    this.claim = claimRoot(this.root);
    // Replay first: a journaled move may name a file that is still in scratch space's neighbourhood.
    const { journal, replayed } = Journal.open(
      {
        dir: join(this.root, journalDir),
        syncTree: () => this.syncTree(),
        syncTreeSync: () => execFileSync("sync", ["-f", this.root]),
        ...(options.checkpointBytes !== undefined ? { maxBytes: options.checkpointBytes } : {}),
        ...(options.checkpointMs !== undefined ? { maxAgeMs: options.checkpointMs } : {}),
      },
      (ops) => this.replay(ops),
    );
    this.journal = journal;
    this.replayed = replayed;
    fs.rmSync(this.scratch, { recursive: true, force: true });
  }

  /**
   * A fresh name in scratch space, whose directory exists once this resolves. A counter is enough:
   * scratch space is this process's alone (see owner.ts) and emptied when the driver is created.
   */
  private async scratchName(): Promise<string> {
    this.scratchReady ??= fsp.mkdir(this.scratch, { recursive: true }).then(() => {});
    await this.scratchReady;
    return this.nextScratch();
  }

  private nextScratch(): string {
    return join(this.scratch, (++this.scratchCount).toString(36));
  }

  private scratchReady: Promise<void> | undefined;
  private scratchCount = 0;

  async getContent(path: string): Promise<Buffer> {
    try {
      return await fsp.readFile(this.full(path));
    } catch (err) {
      if (errnoCode(err) === "EISDIR") throw new PathNotFoundError(path, this.name);
      throw this.wrap(err, "getContent", path);
    }
  }

  async putContent(path: string, content: Uint8Array, options: WriteOptions = {}): Promise<void> {
    try {
      if (options.durable ?? true) {
        const op: JournalOp = { op: "put", path, content };
        await this.journal.commit([op], () => this.applyInOrder([op]));
      } else {
        await this.applyInOrder([{ op: "put", path, content }]);
      }
    } catch (err) {
      throw this.wrap(err, "putContent", path);
    }
  }

  async reader(path: string, range: { start?: number; end?: number } = {}): Promise<Readable> {
    const { fd } = await this.openFile(path, "reader");
    const start = range.start ?? 0;
    const end = range.end;
    if (end !== undefined && end < start) {
      await closeFd(fd).catch(() => {});
      return Readable.from([]);
    }
    return fs.createReadStream(this.full(path), { fd, start, highWaterMark: MiB, ...(end !== undefined ? { end } : {}) });
  }

  /**
   * Sends through two pooled slabs, reading objects of a slab or more by direct I/O; falls back
   * to a read stream when every slab is in use.
   */
  async source(path: string, range: { start?: number; end?: number } = {}): Promise<Source> {
    const { fd, size } = await this.openFile(path, "source");
    const start = range.start ?? 0;
    const end = Math.min(range.end ?? size - 1, size - 1);
    if (end < start) {
      await closeFd(fd).catch(() => {});
      return readableSource(Readable.from([]));
    }
    const full = this.full(path);
    const pair = slabs.takePair();
    if (!pair) return readableSource(fs.createReadStream(full, { fd, start, end, highWaterMark: MiB }));
    let direct: number | undefined;
    try {
      direct = this.directio && size >= slabSize ? await openDirect(full, fs.constants.O_RDONLY) : undefined;
    } catch (err) {
      slabs.give(...pair);
      await closeFd(fd).catch(() => {});
      throw this.wrap(err, "source", path);
    }
    const file = { fd, direct };
    let closing: Promise<void> | undefined;
    const release = () => (closing ??= closeFds(file));
    return {
      pipe: async (dest) => {
        try {
          await sendFile(file, start, end, dest, pair, slabs);
        } finally {
          await release();
        }
      },
      close: async () => {
        slabs.give(...pair);
        await release();
      },
    };
  }

  /** Opens a file for reading: its fd and size. A directory is missing, as in registry:2. */
  private async openFile(path: string, op: string): Promise<{ fd: number; size: number }> {
    let fd: number;
    try {
      fd = await openFd(this.full(path), "r");
    } catch (err) {
      throw this.wrap(err, op, path);
    }
    try {
      const st = await fstatFd(fd);
      if (st.isDirectory()) throw new PathNotFoundError(path, this.name);
      return { fd, size: st.size };
    } catch (err) {
      await closeFd(fd).catch(() => {});
      throw this.wrap(err, op, path);
    }
  }

  /**
   * Writes through two pooled slabs, by direct I/O where the filesystem allows (see direct.ts);
   * through a 1 MiB write stream when every slab is in use.
   */
  async writer(path: string, options: { append?: boolean } = {}): Promise<FileWriter> {
    const full = this.full(path);
    const pair = slabs.takePair();
    const { O_RDWR, O_WRONLY, O_CREAT, O_TRUNC } = fs.constants;
    let fd: number;
    try {
      // Not synced: `commit` makes the bytes durable, and until then the file is safe to lose.
      await fsp.mkdir(dirname(full), { recursive: true });
      fd = await openFd(full, pair ? O_RDWR | O_CREAT | (options.append ? 0 : O_TRUNC) : options.append ? "a" : "w");
    } catch (err) {
      if (pair) slabs.give(...pair);
      throw this.wrap(err, "writer", path);
    }
    let direct: number | undefined;
    try {
      const initial = options.append ? (await fstatFd(fd)).size : 0;
      if (!pair) return new FsWriter(this, path, full, fd, initial, fs.createWriteStream(full, { fd, highWaterMark: MiB, autoClose: false }));
      direct = this.directio ? await openDirect(full, O_WRONLY) : undefined;
      return new FsWriter(this, path, full, fd, initial, new SlabWriteStream(fd, direct, initial, pair, slabs));
    } catch (err) {
      if (pair) slabs.give(...pair);
      await closeFd(fd).catch(() => {});
      if (direct !== undefined) await closeFd(direct).catch(() => {});
      throw this.wrap(err, "writer", path);
    }
  }

  async stat(path: string): Promise<FileInfo> {
    try {
      const st = await fsp.stat(this.full(path));
      const isDir = st.isDirectory();
      return { path, size: isDir ? 0 : st.size, modTime: st.mtime, isDir };
    } catch (err) {
      throw this.wrap(err, "stat", path);
    }
  }

  async list(path: string): Promise<string[]> {
    try {
      const names = await fsp.readdir(this.full(path));
      return names.filter((name) => !isInternalName(name)).sort();
    } catch (err) {
      throw this.wrap(err, "list", path);
    }
  }

  async move(source: string, dest: string): Promise<void> {
    try {
      // Checked first so that a missing source journals nothing and leaves no new directories behind.
      await fsp.lstat(this.full(source));
    } catch (err) {
      throw this.wrap(err, "move", source);
    }
    try {
      const op: JournalOp = { op: "move", source, dest };
      await this.journal.commit([op], () => this.applyInOrder([op]));
    } catch (err) {
      throw this.wrap(err, "move", `${source} -> ${dest}`);
    }
  }

  /**
   * Atomic: the object or tree is first renamed into scratch space (one step), and only then removed,
   * so a crash leaves it whole or gone, never half-deleted. Durable deletes are journaled first.
   */
  async delete(path: string, options: WriteOptions = {}): Promise<void> {
    try {
      if (options.durable ?? true) {
        await fsp.lstat(this.full(path));
        const op: JournalOp = { op: "delete", path };
        await this.journal.commit([op], () => this.applyInOrder([op]));
      } else {
        await this.applyInOrder([{ op: "delete", path }]);
      }
    } catch (err) {
      throw this.wrap(err, "delete", path);
    }
  }

  async batch(mutations: readonly Mutation[]): Promise<void> {
    if (mutations.length === 0) return;
    for (const m of mutations) {
      if (m.op !== "move") continue;
      try {
        await fsp.lstat(this.full(m.source));
      } catch (err) {
        throw this.wrap(err, "batch", m.source);
      }
    }
    try {
      await this.journal.commit(mutations, () => this.applyInOrder(mutations));
    } catch (err) {
      throw this.wrap(err, "batch", mutations.map((m) => (m.op === "put" ? m.path : m.dest)).join(", "));
    }
  }

  async close(): Promise<void> {
    await this.journal.close();
    await this.claim.release();
  }

  /** The journal's counters (records, groups written, checkpoints). */
  get journalStats(): Readonly<Journal["stats"]> {
    return this.journal.stats;
  }

  /** Checkpoints now: the tree is made durable and the journal so far dropped. */
  checkpoint(): Promise<void> {
    return this.journal.checkpoint();
  }

  /** Maps ENOENT/ENOTDIR to PathNotFoundError and anything else to a StorageError naming the call. */
  wrap(err: unknown, op: string, path: string): StorageError {
    if (err instanceof StorageError) return err;
    if (err instanceof JournalFailedError) return new StorageUnavailableError(`${this.name}: ${err.message}`, this.name, { cause: err });
    const code = errnoCode(err);
    if (code === "ENOENT" || code === "ENOTDIR") return new PathNotFoundError(path, this.name);
    const message = err instanceof Error ? err.message : String(err);
    return new StorageError(`${this.name}: ${op} ${path}: ${message}`, this.name, { cause: err });
  }

  private full(path: string): string {
    return join(this.root, path);
  }

  /**
   * Applies committed operations in order, after any earlier application they could meet: one of
   * the same path, a delete of a directory above it, or (for a delete) one of a path beneath it.
   * The journal calls this in commit order, so the tree ends as a replay would leave it.
   */
  private applyInOrder(ops: readonly JournalOp[]): Promise<void> {
    const paths = new Set(ops.flatMap((o) => (o.op === "move" ? [o.source, o.dest] : [o.path])));
    const deletes = ops.flatMap((o) => (o.op === "delete" ? [o.path] : []));
    const before = new Set<Promise<void>>();
    for (const p of paths) {
      const previous = this.applying.get(p);
      if (previous) before.add(previous);
      if (this.deleting.size === 0) continue;
      for (let at = p.lastIndexOf("/"); at > 0; at = p.lastIndexOf("/", at - 1)) {
        const deleting = this.deleting.get(p.slice(0, at));
        if (deleting) before.add(deleting);
      }
    }
    for (const d of deletes) {
      for (const [p, previous] of this.applying) if (p.startsWith(`${d}/`)) before.add(previous);
    }
    const run = async () => {
      if (before.size > 0) await Promise.all(before);
      await this.applySlots.acquire();
      try {
        let puts: PutOp[] = [];
        for (const o of ops) {
          if (o.op === "put" && !puts.some((p) => p.path === o.path)) {
            puts.push(o);
            continue;
          }
          await this.applyPuts(puts);
          puts = [];
          if (o.op === "put") puts.push(o);
          else if (o.op === "move") await this.applyMove(o.source, o.dest);
          else await this.applyDelete(o.path);
        }
        await this.applyPuts(puts);
      } finally {
        this.applySlots.release();
      }
    };
    const done = run();
    const settled = done.catch(() => {});
    for (const p of paths) this.applying.set(p, settled);
    for (const d of deletes) this.deleting.set(d, settled);
    void settled.then(() => {
      for (const p of paths) if (this.applying.get(p) === settled) this.applying.delete(p);
      for (const d of deletes) if (this.deleting.get(d) === settled) this.deleting.delete(d);
    });
    return done;
  }

  /**
   * Writes each file under a temporary name beside it and renames it over the path, so readers,
   * and registry:2 after a kill, see the old content or the new, never a short file. Directories
   * and temporary files of all the puts are made at once; the renames, which make each file
   * visible, follow in order, so a kill leaves a prefix of the puts (a link never before what it
   * names). A temporary file a kill leaves is hidden from `list`, ignored by registry:2, and
   * renamed into place by the next put of its path (the journal's replay, at the latest).
   */
  private async applyPuts(puts: readonly PutOp[]): Promise<void> {
    if (puts.length === 0) return;
    // Every write settled before any error is thrown: the next put of a path reuses its temporary name.
    const written = await Promise.allSettled(puts.map((p) => this.writeTemp(this.full(p.path), p.content)));
    for (const w of written) if (w.status === "rejected") throw w.reason;
    for (const p of puts) {
      const full = this.full(p.path);
      await fsp.rename(siblingTemp(full), full);
    }
  }

  private async writeTemp(full: string, content: Uint8Array, retried = false): Promise<void> {
    const dir = dirname(full);
    await this.ensureDir(dir);
    try {
      await fsp.writeFile(siblingTemp(full), content);
    } catch (err) {
      if (errnoCode(err) !== "ENOENT" || retried) throw err;
      // The directory went away since this process made it (a delete): make it again.
      this.knownDirs.delete(dir);
      await this.writeTemp(full, content, true);
    }
  }

  private async applyMove(source: string, dest: string): Promise<void> {
    await this.renameInto(this.full(source), this.full(dest));
  }

  /** Makes a directory and its parents unless this process knows it exists. */
  private async ensureDir(dir: string): Promise<void> {
    if (this.knownDirs.has(dir)) return;
    await fsp.mkdir(dir, { recursive: true });
    if (this.knownDirs.size >= 1 << 16) this.knownDirs = new Set();
    this.knownDirs.add(dir);
  }

  /** rename(2), making the destination's parent directories first unless they are known to exist. */
  private async renameInto(from: string, to: string): Promise<void> {
    const dir = dirname(to);
    await this.ensureDir(dir);
    try {
      await fsp.rename(from, to);
    } catch (err) {
      // The directory went away since this process made it (a delete): make it again.
      if (errnoCode(err) !== "ENOENT") throw err;
      this.knownDirs.delete(dir);
      await this.ensureDir(dir);
      await fsp.rename(from, to);
    }
  }

  /** Directories this process made may go with it: their cache entries heal on the next ENOENT. */
  private async applyDelete(path: string): Promise<void> {
    const trash = await this.scratchName();
    await fsp.rename(this.full(path), trash);
    await fsp.rm(trash, { recursive: true, force: true });
  }

  /** syncfs of the filesystem holding the root: every change applied so far becomes durable. */
  private async syncTree(): Promise<void> {
    await execFileAsync("sync", ["-f", this.root]);
  }

  /** Replays one journal record at open: idempotent, and synchronous (nothing is served yet). */
  private replay(ops: JournalOp[]): void {
    for (const o of ops) {
      try {
        if (o.op === "put") {
          // Through the same temporary name as a live put: one a kill left behind is used up.
          const full = this.full(o.path);
          fs.mkdirSync(dirname(full), { recursive: true });
          fs.writeFileSync(siblingTemp(full), o.content);
          fs.renameSync(siblingTemp(full), full);
        } else if (o.op === "move") {
          // Gone from the source: the move was applied (and the source possibly reused since).
          if (!fs.existsSync(this.full(o.source))) continue;
          fs.mkdirSync(dirname(this.full(o.dest)), { recursive: true });
          fs.renameSync(this.full(o.source), this.full(o.dest));
        } else {
          // Out of the tree in one step, as a live delete: a kill during replay leaves it whole or gone.
          const trash = this.nextScratch();
          try {
            fs.renameSync(this.full(o.path), trash);
          } catch (err) {
            if (errnoCode(err) === "ENOENT") continue;
            throw err;
          }
          fs.rmSync(trash, { recursive: true, force: true });
        }
      } catch (err) {
        if (!skippableReplayErrors.has(errnoCode(err) ?? "")) throw err;
      }
    }
  }
}

/**
 * The temporary name a put writes before renaming over `full`: in the same directory, since a
 * rename between directories takes a lock that every such rename on the filesystem shares.
 * One name per target: puts of one path run one at a time, and a name a kill left behind is
 * written over and renamed by the next put of that path (the journal's replay, at the latest).
 */
function siblingTemp(full: string): string {
  return join(dirname(full), `${tempPrefix}-${basename(full)}`);
}

type PutOp = Extract<JournalOp, { op: "put" }>;

/** A counting semaphore. */
class Semaphore {
  private readonly waiting: Array<() => void> = [];
  constructor(private free: number) {}

  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

/**
 * A writer on an fd this class owns, through a stream that closes the fd when destroyed and not
 * before (pipeline destroys on error; `release` destroys it otherwise): one owner of the close,
 * whichever way the stream ended.
 */
class FsWriter implements FileWriter {
  private released: Promise<void> | undefined;

  constructor(
    private readonly driver: FilesystemDriver,
    private readonly path: string,
    private readonly full: string,
    private readonly fd: number,
    private readonly initial: number,
    readonly stream: Writable & { bytesWritten: number },
  ) {}

  get size(): number {
    return this.initial + this.stream.bytesWritten;
  }

  close(): Promise<void> {
    return this.release();
  }

  async commit(): Promise<void> {
    const s = this.stream;
    // Only a cleanly finished stream has every byte on the fd; anything else would be a torn commit.
    if (!s.writableFinished || s.errored !== null || s.destroyed) {
      await this.release();
      const why = s.errored ? `stream failed: ${s.errored.message}` : "stream not finished";
      throw new StorageError(`${this.driver.name}: commit ${this.path}: ${why}`, this.driver.name, {
        cause: s.errored,
      });
    }
    try {
      await fdatasyncFd(this.fd);
    } catch (err) {
      await this.release().catch(() => {});
      throw this.driver.wrap(err, "commit", this.path);
    }
    await this.release();
  }

  async cancel(): Promise<void> {
    await this.release().catch(() => {});
    try {
      await fsp.unlink(this.full);
    } catch (err) {
      if (errnoCode(err) !== "ENOENT") throw this.driver.wrap(err, "cancel", this.path);
    }
  }

  private release(): Promise<void> {
    this.released ??= new Promise((resolve, reject) => {
      const s = this.stream;
      if (s.closed) return resolve();
      // Already destroyed (pipeline does, on error): its close is under way and its error is the
      // stream's, already reported to whoever ran the pipeline. Otherwise an error is fs.close's.
      const destroying = !s.destroyed;
      let closeError: Error | undefined;
      if (destroying) s.once("error", (err) => (closeError = err));
      s.once("close", () =>
        closeError ? reject(this.driver.wrap(closeError, "close", this.path)) : resolve(),
      );
      if (destroying) s.destroy();
    });
    return this.released;
  }
}
