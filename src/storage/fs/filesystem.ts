import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { Readable, type Writable } from "node:stream";
import { promisify } from "node:util";
import {
  isNoSpaceCode,
  PathNotFoundError,
  StorageError,
  StorageFullError,
  StorageUnavailableError,
  readableSource,
  type Capabilities,
  type FileInfo,
  type FileWriter,
  type ListPage,
  type Mutation,
  type Source,
  type StorageDriver,
} from "../driver.js";
import { pageOf } from "../page.js";
import { openDirect, sendFile, SlabWriteStream, slabs, slabSize } from "./direct.js";
import { errnoCode } from "./errno.js";
import { Journal, JournalFailedError, type JournalOp, type RecordLocation } from "./journal.js";
import { claimRoot, type Claim } from "./owner.js";
import { Applier } from "./applier.js";
import { PendingPaths } from "./pending.js";
import { tempPrefix, Tree } from "./tree.js";
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

/** Whether a name is one of lading's temporary ones (see tree.ts). */
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

/** The apply worker's nice value: below requests, which the journal has already made durable. */
const applyNice = 10;

/**
 * The local filesystem, laid out as registry:2's filesystem driver lays it out under `root`.
 *
 * Durability. Durable metadata writes (putContent, move, delete, batch) are write-ahead journaled:
 * each call's operations become one journal record, concurrent records share one synchronized
 * write (group commit), and the call resolves then. The records are applied to the tree after
 * that, in commit order and without syncs of their own (by a worker thread: applier.ts), so the
 * tree never holds a change a crash could keep while losing an earlier one it depends on. Until a
 * record is applied, a read of a path it touches (or of a directory above one) waits for it: every
 * read sees every write that has resolved. A checkpoint (by journal size or age, and at `close`)
 * syncs the whole filesystem (syncfs) and drops the journal. Creating the driver replays what a
 * crash left before anything can be served. Blob data is made durable by the writer's `commit`
 * (one fdatasync); the move that publishes it is journaled.
 *
 * A full disk (ENOSPC, EDQUOT) fails a write with StorageFullError and keeps nothing of it: the
 * journal refuses a record the tree has no room for (journal.ts); one acknowledged and then short
 * of room after all (inodes, a race) waits in the applier until it fits (applier.ts), meanwhile
 * reads that would meet it and every write fail at once. Writes resume once space is freed.
 *
 * Assumption: the filesystem persists metadata operations in the order they were made, as ext4
 * (data=ordered), xfs and btrfs do. fdatasync of a new file then makes its name durable too, and an
 * upload discarded after its data was moved out cannot be persisted without that move.
 */
export interface WriteOptions {
  /**
   * false: the change may be lost in a crash (never torn), which saves the journal's sync; for state
   * that is safe to lose, like the bookkeeping of an upload in progress. Default true.
   */
  durable?: boolean;
}

export class FilesystemDriver implements StorageDriver {
  readonly name = "filesystem";
  /** Every capability: one process owns the root, and the journal makes batches crash-atomic. */
  readonly capabilities: Capabilities = {
    exclusive: true,
    batch: (mutations) => this.batch(mutations),
    send: (path, range) => this.source(path, range),
    lossy: { putContent: (path, content) => this.putContent(path, content, { durable: false }), delete: (path) => this.delete(path, { durable: false }) },
    applied: () => this.applied(),
  };
  readonly root: string;
  /** How many journal records the constructor replayed (what the last run left unsynced). */
  readonly replayed: number;

  private readonly scratch: string;
  private readonly claim: Claim;
  private readonly journal: Journal;
  /** Operations handed to the applier and not yet applied, by the paths they touch. */
  private readonly pending = new PendingPaths();
  /** Applies journaled (and unjournaled) operations to the tree, on a worker thread, in order. */
  private readonly applier: Applier;

  /** Fails each read waiting for pending writes: called when their application stalls for lack of room. */
  private readonly waiting = new Set<(error: Error) => void>();

  /** Whether big objects bypass the page cache (see direct.ts). */
  private readonly directio: boolean;

  /**
   * @param options.warn told what an operator should know of and no request sees (the apply worker's
   *   death, above all)
   */
  constructor(
    root: string,
    options: { checkpointBytes?: number; checkpointMs?: number; directio?: boolean | undefined; warn?: ((message: string) => void) | undefined } = {},
  ) {
    this.root = resolve(root);
    this.directio = options.directio ?? true;
    this.scratch = join(this.root, tempPrefix);
    fs.mkdirSync(this.scratch, { recursive: true });
    this.claim = claimRoot(this.root);
    // Replay first: a journaled move may name a file that is still in scratch space's neighbourhood.
    const replaying = new Tree(this.root, this.scratch, "r");
    const { journal, replayed } = Journal.open(
      {
        dir: join(this.root, journalDir),
        syncTree: () => this.syncTree(),
        syncTreeSync: () => execFileSync("sync", ["-f", this.root]),
        space: () => this.space(),
        ...(options.checkpointBytes !== undefined ? { maxBytes: options.checkpointBytes } : {}),
        ...(options.checkpointMs !== undefined ? { maxAgeMs: options.checkpointMs } : {}),
      },
      (ops) => replaying.apply(ops, true),
    );
    this.journal = journal;
    this.replayed = replayed;
    fs.rmSync(this.scratch, { recursive: true, force: true });
    this.applier = new Applier({ root: this.root, scratch: this.scratch, nice: applyNice }, undefined, options.warn, (error) => {
      if (error) for (const fail of this.waiting) fail(error);
    });
  }

  async getContent(path: string): Promise<Buffer> {
    await this.settled(path, "getContent");
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
        await this.journaled([{ op: "put", path, content }]);
      } else {
        await this.apply([{ op: "put", path, content }]);
      }
    } catch (err) {
      throw this.wrap(err, "putContent", path);
    }
  }

  async reader(path: string, range: { start?: number; end?: number } = {}): Promise<Readable> {
    await this.settled(path, "reader");
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
    await this.settled(path, "source");
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
    await this.settled(path, "writer");
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
    await this.settled(path, "stat", true);
    try {
      const st = await fsp.stat(this.full(path));
      const isDir = st.isDirectory();
      return { path, size: isDir ? 0 : st.size, modTime: st.mtime, isDir };
    } catch (err) {
      throw this.wrap(err, "stat", path);
    }
  }

  async list(path: string, page?: ListPage): Promise<string[]> {
    await this.settled(path, "list", true);
    try {
      const names = await fsp.readdir(this.full(path));
      return pageOf(names.filter((name) => !isInternalName(name)).sort(), page);
    } catch (err) {
      throw this.wrap(err, "list", path);
    }
  }

  async move(source: string, dest: string): Promise<void> {
    await this.settled(source, "move");
    try {
      // Checked first so that a missing source journals nothing and leaves no new directories behind.
      await fsp.lstat(this.full(source));
    } catch (err) {
      throw this.wrap(err, "move", source);
    }
    try {
      await this.journaled([{ op: "move", source, dest }]);
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
        await this.settled(path, "delete", true);
        await fsp.lstat(this.full(path));
        await this.journaled([{ op: "delete", path }]);
      } else {
        await this.apply([{ op: "delete", path }]);
      }
    } catch (err) {
      throw this.wrap(err, "delete", path);
    }
  }

  async batch(mutations: readonly Mutation[]): Promise<void> {
    if (mutations.length === 0) return;
    for (const m of mutations) {
      if (m.op !== "move") continue;
      await this.settled(m.source, "batch");
      try {
        await fsp.lstat(this.full(m.source));
      } catch (err) {
        throw this.wrap(err, "batch", m.source);
      }
    }
    try {
      await this.journaled(mutations);
    } catch (err) {
      throw this.wrap(err, "batch", mutations.map((m) => (m.op === "put" ? m.path : m.dest)).join(", "));
    }
  }

  async close(): Promise<void> {
    // What does not fit now is left in the journal for the next start's replay.
    this.applier.stopWaitingForSpace();
    await this.journal.close();
    await this.applied();
    await this.applier.close();
    await this.claim.release();
  }

  /** Also resolves when an application failed (the journal then refuses writes). */
  async applied(): Promise<void> {
    await this.pending.all();
  }

  /** The journal's counters (records, groups written, checkpoints). */
  get journalStats(): Readonly<Journal["stats"]> {
    return this.journal.stats;
  }

  /** Checkpoints now: the tree is made durable and the journal so far dropped. */
  checkpoint(): Promise<void> {
    return this.journal.checkpoint();
  }

  /**
   * Maps ENOENT/ENOTDIR to PathNotFoundError, no room (ENOSPC, EDQUOT) to StorageFullError and
   * anything else to a StorageError naming the call.
   */
  wrap(err: unknown, op: string, path: string): StorageError {
    if (err instanceof StorageError) return err;
    if (err instanceof JournalFailedError) return new StorageUnavailableError(`${this.name}: ${err.message}`, this.name, { cause: err });
    const code = errnoCode(err);
    if (code === "ENOENT" || code === "ENOTDIR") return new PathNotFoundError(path, this.name);
    const message = err instanceof Error ? err.message : String(err);
    const Failure = isNoSpaceCode(code) ? StorageFullError : StorageError;
    return new Failure(`${this.name}: ${op} ${path}: ${message}`, this.name, { cause: err });
  }

  /**
   * Waits for the pending writes that an operation on `path` would meet (see PendingPaths.wait).
   * While their application waits for room (applier.ts), it fails at once instead: a read never
   * sees a tree without a write that was acknowledged, and never waits for the disk to be freed.
   */
  private async settled(path: string, op: string, beneath = false): Promise<void> {
    const writes = this.pending.wait(path, beneath);
    if (!writes) return;
    const stalled = this.applier.stalled;
    if (stalled) throw this.waitsForRoom(stalled, op, path);
    let fail!: (error: Error) => void;
    const failed = new Promise<never>((_, reject) => (fail = (error) => reject(this.waitsForRoom(error, op, path))));
    this.waiting.add(fail);
    try {
      await Promise.race([writes, failed]);
    } finally {
      this.waiting.delete(fail);
    }
  }

  private waitsForRoom(error: Error, op: string, path: string): StorageFullError {
    return new StorageFullError(`${this.name}: ${op} ${path}: a write to it waits for room (${error.message})`, this.name, { cause: error });
  }

  /**
   * Journals operations, and then applies them. Refused while the application of an earlier
   * write waits for room: the journal takes nothing the tree could not take.
   */
  private journaled(ops: readonly JournalOp[]): Promise<void> {
    const stalled = this.applier.stalled;
    if (stalled) return Promise.reject(stalled);
    return this.journal.commit(ops, (where) => this.apply(ops, where));
  }

  /** The bytes free on the root's filesystem for this process (root may use the reserved blocks), and its block size. */
  private async space(): Promise<{ free: number; blockSize: number }> {
    const st = await fsp.statfs(this.root);
    return { free: (process.getuid?.() === 0 ? st.bfree : st.bavail) * st.bsize, blockSize: st.bsize };
  }

  private full(path: string): string {
    return join(this.root, path);
  }

  /**
   * Hands operations to the applier, which runs them in the order handed over (the journal hands
   * records over in commit order, so the tree ends as a replay would leave it); until they are
   * applied, reads of the paths they touch wait for them.
   */
  private apply(ops: readonly JournalOp[], where?: RecordLocation): Promise<void> {
    const done = this.applier.apply(ops, where);
    const paths: string[] = [];
    for (const o of ops) {
      if (o.op === "move") paths.push(o.source, o.dest);
      else paths.push(o.path);
    }
    this.pending.add(paths, done);
    return done;
  }

  /** syncfs of the filesystem holding the root: every change applied so far becomes durable. */
  private async syncTree(): Promise<void> {
    await execFileAsync("sync", ["-f", this.root]);
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
