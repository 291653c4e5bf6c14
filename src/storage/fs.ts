import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import {
  PathNotFoundError,
  StorageError,
  type FileInfo,
  type FileWriter,
  type StorageDriver,
  type WriteOptions,
} from "./driver.js";

// Streams run on numeric fds (no FileHandle promise per 1 MiB write).
const openFd = promisify(fs.open);
const fstatFd = promisify(fs.fstat);
const fdatasyncFd = promisify(fs.fdatasync);
const closeFd = promisify(fs.close);

const MiB = 1 << 20;

/**
 * Scratch space for files being written and trees being deleted: one directory under the root, so
 * renames stay on one filesystem (atomic) while nothing half-made ever stands in the registry's
 * tree, where registry:2 would see it. It is emptied when a driver is created (what a crash left);
 * `list` hides it.
 */
export const tempPrefix = ".lading-tmp";

export function isTempName(name: string): boolean {
  return name.startsWith(tempPrefix);
}

function errnoCode(err: unknown): string | undefined {
  return err instanceof Error && "code" in err && typeof err.code === "string" ? err.code : undefined;
}

async function syncDirNow(dir: string): Promise<void> {
  const handle = await fsp.open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The next fsync of each directory, while it has not started: later callers join it. */
const queuedDirSyncs = new Map<string, { started: boolean; done: Promise<void> }>();

/**
 * Makes a directory's entries durable. Concurrent requests for one directory share fsyncs: a caller
 * joins the queued sync when one has not started yet (it will see the caller's changes), and
 * otherwise queues the next one behind the sync in progress.
 */
function fsyncDir(dir: string): Promise<void> {
  const queued = queuedDirSyncs.get(dir);
  if (queued && !queued.started) return queued.done;
  const previous = queued?.done ?? Promise.resolve();
  const entry: { started: boolean; done: Promise<void> } = { started: false, done: Promise.resolve() };
  entry.done = previous
    .catch(() => {})
    .then(() => {
      entry.started = true;
      return syncDirNow(dir);
    })
    .finally(() => {
      if (queuedDirSyncs.get(dir) === entry) queuedDirSyncs.delete(dir);
    });
  queuedDirSyncs.set(dir, entry);
  return entry.done;
}

/** The local filesystem, laid out as registry:2's filesystem driver lays it out under `root`. */
export class FilesystemDriver implements StorageDriver {
  readonly name = "filesystem";
  readonly root: string;

  /**
   * Directories this driver created whose own entries are not yet durable. A caller that finds a
   * directory already there may have raced its creator, and must wait for the creator's fsyncs
   * before it can report its own write durable.
   */
  private readonly pendingDirs = new Map<string, Promise<void>>();

  private readonly scratch: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.scratch = join(this.root, tempPrefix);
    fs.rmSync(this.scratch, { recursive: true, force: true });
  }

  /** A fresh name in the scratch directory, which exists once this resolves. */
  private async scratchName(): Promise<string> {
    this.scratchReady ??= fsp.mkdir(this.scratch, { recursive: true }).then(() => {});
    await this.scratchReady;
    return join(this.scratch, randomBytes(8).toString("hex"));
  }

  private scratchReady: Promise<void> | undefined;

  async getContent(path: string): Promise<Buffer> {
    try {
      return await fsp.readFile(this.full(path));
    } catch (err) {
      if (errnoCode(err) === "EISDIR") throw new PathNotFoundError(path, this.name);
      throw this.wrap(err, "getContent", path);
    }
  }

  async putContent(path: string, content: Uint8Array, options: WriteOptions = {}): Promise<void> {
    const durable = options.durable ?? true;
    const full = this.full(path);
    const dir = dirname(full);
    const tmp = await this.scratchName();
    try {
      await this.makeDir(dir, durable);
      const handle = await fsp.open(tmp, "wx");
      try {
        await handle.writeFile(content);
        if (durable) await handle.datasync();
      } finally {
        await handle.close();
      }
      await fsp.rename(tmp, full);
      if (durable) await fsyncDir(dir);
    } catch (err) {
      await fsp.unlink(tmp).catch(() => {});
      throw this.wrap(err, "putContent", path);
    }
  }

  async reader(path: string, range: { start?: number; end?: number } = {}): Promise<Readable> {
    const full = this.full(path);
    let fd: number;
    try {
      fd = await openFd(full, "r");
    } catch (err) {
      throw this.wrap(err, "reader", path);
    }
    try {
      if ((await fstatFd(fd)).isDirectory()) throw new PathNotFoundError(path, this.name);
      const start = range.start ?? 0;
      const end = range.end;
      if (end !== undefined && end < start) {
        await closeFd(fd);
        return Readable.from([]);
      }
      return fs.createReadStream(full, {
        fd,
        start,
        highWaterMark: MiB,
        ...(end !== undefined ? { end } : {}),
      });
    } catch (err) {
      await closeFd(fd).catch(() => {});
      throw this.wrap(err, "reader", path);
    }
  }

  async writer(path: string, options: { append?: boolean } = {}): Promise<FileWriter> {
    const full = this.full(path);
    let fd: number;
    try {
      await this.makeDir(dirname(full));
      fd = await openFd(full, options.append ? "a" : "w");
    } catch (err) {
      throw this.wrap(err, "writer", path);
    }
    try {
      const initial = options.append ? (await fstatFd(fd)).size : 0;
      return new FsWriter(this, path, full, fd, initial);
    } catch (err) {
      await closeFd(fd).catch(() => {});
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
      return names.filter((name) => !isTempName(name)).sort();
    } catch (err) {
      throw this.wrap(err, "list", path);
    }
  }

  async move(source: string, dest: string): Promise<void> {
    const from = this.full(source);
    const to = this.full(dest);
    try {
      // Checked first so that a missing source leaves no new directories behind.
      await fsp.lstat(from);
    } catch (err) {
      throw this.wrap(err, "move", source);
    }
    try {
      await this.makeDir(dirname(to));
      await fsp.rename(from, to);
      await fsyncDir(dirname(to));
    } catch (err) {
      throw this.wrap(err, "move", `${source} -> ${dest}`);
    }
  }

  /**
   * Atomic and durable: the object or tree is first renamed into scratch space (one step), the
   * directory is fsynced, and only then is the tree removed. A crash leaves it whole or gone, never
   * half-deleted.
   */
  async delete(path: string, options: WriteOptions = {}): Promise<void> {
    const full = this.full(path);
    const parent = dirname(full);
    const trash = await this.scratchName();
    try {
      await fsp.rename(full, trash);
      if (options.durable ?? true) await fsyncDir(parent);
      await fsp.rm(trash, { recursive: true, force: true });
    } catch (err) {
      throw this.wrap(err, "delete", path);
    }
  }

  /** Maps ENOENT/ENOTDIR to PathNotFoundError and anything else to a StorageError naming the call. */
  wrap(err: unknown, op: string, path: string): StorageError {
    if (err instanceof StorageError) return err;
    const code = errnoCode(err);
    if (code === "ENOENT" || code === "ENOTDIR") return new PathNotFoundError(path, this.name);
    const message = err instanceof Error ? err.message : String(err);
    return new StorageError(`${this.name}: ${op} ${path}: ${message}`, this.name, { cause: err });
  }

  private full(path: string): string {
    return join(this.root, path);
  }

  /** mkdir -p, durable: the parent of every directory created is fsynced before this resolves. */
  private async makeDir(dir: string, durable = true): Promise<void> {
    const first = await fsp.mkdir(dir, { recursive: true });
    if (!durable) return;
    let own: Promise<void> | undefined;
    if (first !== undefined) {
      const created: string[] = [];
      for (let d = dir; ; d = dirname(d)) {
        created.push(d);
        if (d === first || d === dirname(d)) break;
      }
      own = Promise.all(created.map((d) => fsyncDir(dirname(d)))).then(() => {});
      for (const d of created) this.pendingDirs.set(d, own);
      const forget = () => {
        for (const d of created) if (this.pendingDirs.get(d) === own) this.pendingDirs.delete(d);
      };
      own.then(forget, forget);
    }
    const waits: Promise<void>[] = own ? [own] : [];
    if (this.pendingDirs.size > 0) {
      for (let d = dir; d !== dirname(d); d = dirname(d)) {
        const pending = this.pendingDirs.get(d);
        if (pending !== undefined && pending !== own) waits.push(pending);
      }
    }
    await Promise.all(waits);
  }
}

/**
 * A writer on an fd this class owns. The stream never closes the fd by itself (autoClose: false), but
 * destroying it does (pipeline destroys on error), so the fd is always released by destroying the
 * stream: one owner of the close, whichever way the stream ended.
 */
class FsWriter implements FileWriter {
  readonly stream: fs.WriteStream;
  private released: Promise<void> | undefined;

  constructor(
    private readonly driver: FilesystemDriver,
    private readonly path: string,
    private readonly full: string,
    private readonly fd: number,
    private readonly initial: number,
  ) {
    this.stream = fs.createWriteStream(full, { fd, highWaterMark: MiB, autoClose: false });
  }

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
