import * as fs from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { crc32 } from "node:zlib";
import { isNoSpaceCode } from "../driver.js";
import { errnoCode } from "./errno.js";

/*
 * A write-ahead journal with group commit, for the filesystem driver's durable metadata writes.
 *
 * Each batch of operations is one record, appended to the active segment file. Concurrent batches
 * share one synchronized write (group commit; see `segmentFlags`). The caller is resolved as soon
 * as its record is durable; the batch is applied to the tree after that, in commit order, while
 * later groups are written (the driver makes a read of a path wait for the application of what was
 * committed to it). Only when applications fall far behind (`maxBacklog`) does a caller also wait
 * for its own. The tree is never made durable operation by operation: a checkpoint syncs it as a
 * whole (syncfs) and then drops the segments it covers. After a crash, replaying the surviving
 * segments, in order, re-applies every acknowledged batch.
 *
 *   <dir>/<seq, 16 digits>.log      segments, replayed in seq order; one is active
 *
 * A record on disk:
 *
 *   u32 LE  payload length
 *   u32 LE  crc32 of the payload
 *   payload: u32 LE header length, header (JSON: the operations), then the put contents, in order
 *
 * A record that is short or fails its checksum ends its segment: it belonged to a group whose
 * write never returned, so no caller was told it was durable and nothing of it was applied.
 *
 * A full disk. A record is written only if the filesystem has room for it and for its application
 * (`space`): one the tree could not take would be acknowledged and then wait. A group whose write
 * finds no room after all is cut off the segment again (truncated, synced) and refused; the journal
 * goes on. Any other failure of the journal's own writes stops it until a restart.
 */

export type JournalOp =
  | { op: "put"; path: string; content: Uint8Array }
  | { op: "move"; source: string; dest: string }
  | { op: "delete"; path: string };

type HeaderOp = ["p", string, number] | ["m", string, string] | ["d", string];

const writevFd = promisify(fs.writev);

/**
 * Segments are opened for synchronized writes (O_DSYNC): a write returns once its bytes are
 * durable, as a write and an fdatasync would, in one system call and so in one trip through the
 * thread pool instead of two.
 */
const segmentFlags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_DSYNC;
const closeFd = promisify(fs.close);
const ftruncateFd = promisify(fs.ftruncate);
const fdatasyncFd = promisify(fs.fdatasync);

export function encodeRecord(ops: readonly JournalOp[]): Buffer[] {
  const header: HeaderOp[] = ops.map((o) =>
    o.op === "put" ? ["p", o.path, o.content.byteLength] : o.op === "move" ? ["m", o.source, o.dest] : ["d", o.path],
  );
  const headerBytes = Buffer.from(JSON.stringify(header), "utf8");
  const contents = ops.flatMap((o) => (o.op === "put" ? [o.content] : []));
  const payloadLength = 4 + headerBytes.length + contents.reduce((n, c) => n + c.byteLength, 0);
  const prefix = Buffer.allocUnsafe(12);
  prefix.writeUInt32LE(payloadLength, 0);
  prefix.writeUInt32LE(headerBytes.length, 8);
  let crc = crc32(prefix.subarray(8, 12));
  crc = crc32(headerBytes, crc);
  for (const c of contents) crc = crc32(c, crc);
  prefix.writeUInt32LE(crc, 4);
  return [prefix, headerBytes, ...contents.map((c) => (Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength)))];
}

/** Offsets of a record's put contents from its start (`encodeRecord`'s buffers): after its prefix and header. */
function contentOffsets(record: Buffer[]): number[] {
  const offsets: number[] = [];
  let at = record.length > 1 ? record[0]!.length + record[1]!.length : 0;
  for (const content of record.slice(2)) {
    offsets.push(at);
    at += content.length;
  }
  return offsets;
}

/** The whole records of a segment, in order, up to the first torn or corrupt one. */
export function decodeRecords(data: Buffer): JournalOp[][] {
  const records: JournalOp[][] = [];
  let at = 0;
  while (at + 8 <= data.length) {
    const length = data.readUInt32LE(at);
    const crc = data.readUInt32LE(at + 4);
    const end = at + 8 + length;
    if (length < 4 || end > data.length) break;
    const payload = data.subarray(at + 8, end);
    if (crc32(payload) !== crc) break;
    const ops = decodePayload(payload);
    if (!ops) break;
    records.push(ops);
    at = end;
  }
  return records;
}

function decodePayload(payload: Buffer): JournalOp[] | undefined {
  const headerLength = payload.readUInt32LE(0);
  if (4 + headerLength > payload.length) return undefined;
  let header: unknown;
  try {
    header = JSON.parse(payload.toString("utf8", 4, 4 + headerLength));
  } catch {
    return undefined;
  }
  if (!Array.isArray(header)) return undefined;
  const ops: JournalOp[] = [];
  let at = 4 + headerLength;
  for (const h of header as HeaderOp[]) {
    if (h[0] === "p") {
      const end = at + h[2];
      if (end > payload.length) return undefined;
      ops.push({ op: "put", path: h[1], content: payload.subarray(at, end) });
      at = end;
    } else if (h[0] === "m") {
      ops.push({ op: "move", source: h[1], dest: h[2] });
    } else if (h[0] === "d") {
      ops.push({ op: "delete", path: h[1] });
    } else {
      return undefined;
    }
  }
  return at === payload.length ? ops : undefined;
}

/** What every write gets once the journal has failed. */
export class JournalFailedError extends Error {}

const segmentRe = /^(\d{16})\.log$/;

/** A reading of the room left is reused for this long while it shows at least `plentyOfRoom` bytes. */
const roomReadingMs = 100;
const plentyOfRoom = 256 << 20;

function segmentName(seq: number): string {
  return `${String(seq).padStart(16, "0")}.log`;
}

/** Segment sequence numbers present in `dir`, ascending. */
function listSegments(dir: string): number[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return [];
    throw err;
  }
  return names.flatMap((n) => {
    const m = segmentRe.exec(n);
    return m ? [Number(m[1])] : [];
  }).sort((a, b) => a - b);
}

function fsyncDirSync(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export interface JournalOptions {
  /** The journal's own directory (outside the tree it protects). */
  dir: string;
  /** Makes every change applied to the tree so far durable; a checkpoint calls it before dropping segments. */
  syncTree(): Promise<void>;
  /** Same, synchronously: used once at open, after replay. */
  syncTreeSync(): void;
  /**
   * The filesystem's free bytes (for this process) and block size: a record that would not fit,
   * with its application, is refused before it is written. Without it every record is written.
   */
  space?(): Promise<{ free: number; blockSize: number }>;
  /** Checkpoint once the active segment holds this many bytes. */
  maxBytes?: number;
  /** Checkpoint this long after the first record of a segment. */
  maxAgeMs?: number;
  /**
   * Records committed and not yet applied, and their bytes, beyond which a caller also waits for
   * its record's application: how far the tree may fall behind (and a replay would have to redo).
   */
  maxBacklog?: { records: number; bytes: number };
}

interface Segment {
  seq: number;
  fd: number;
  size: number;
  /** Applications of this segment's records still running: a checkpoint waits for them. */
  applying: Set<Promise<unknown>>;
}

/**
 * Where a committed record's put contents are: in the segment file `segment`, at `offsets` (one
 * per put, in order). They can be read back from there (out of the page cache, having just been
 * written) until the record is applied, instead of being held in memory meanwhile.
 */
export interface RecordLocation {
  segment: string;
  offsets: number[];
}

interface Pending {
  /** The record's bytes, dropped once written. */
  record: Buffer[] | undefined;
  bytes: number;
  /** Bytes each of its operations writes into the tree (a put's content; 0 for a move or delete). */
  writes: number[];
  apply: (where: RecordLocation) => Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class Journal {
  /** Records committed, groups written (one synchronized write each) and checkpoints completed. */
  readonly stats = { records: 0, groups: 0, checkpoints: 0 };
  /** Records committed whose application has not finished, and their bytes. */
  private backlog = { records: 0, bytes: 0 };
  private segment: Segment;
  private pending: Pending[] = [];
  private pumping = false;
  private rotation: { done: Promise<Segment>; resolve: (old: Segment) => void; reject: (err: unknown) => void } | undefined;
  private checkpointing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The last reading of the filesystem's room (`space`), less what was admitted since, and when it was taken. */
  private room: { free: number; blockSize: number; at: number } | undefined;
  /** Set when a write of the journal failed: its state on disk is unknown, so it takes no more records. */
  private failed: Error | undefined;
  private closed = false;
  private readonly maxBytes: number;
  private readonly maxAgeMs: number;
  private readonly maxBacklog: { records: number; bytes: number };

  /**
   * Replays what a previous run left (calling `apply` for every whole record, in order), makes the
   * result durable, drops the old segments and starts a fresh one. Synchronous: nothing may be served
   * before the tree is repaired. Returns the journal and the number of records replayed.
   */
  static open(options: JournalOptions, apply: (ops: JournalOp[]) => void): { journal: Journal; replayed: number } {
    fs.mkdirSync(options.dir, { recursive: true });
    const old = listSegments(options.dir);
    let replayed = 0;
    for (const seq of old) {
      for (const ops of decodeRecords(fs.readFileSync(join(options.dir, segmentName(seq))))) {
        apply(ops);
        replayed++;
      }
    }
    if (old.length > 0) {
      options.syncTreeSync();
      for (const seq of old) fs.unlinkSync(join(options.dir, segmentName(seq)));
    }
    const seq = (old.at(-1) ?? 0) + 1;
    const fd = fs.openSync(join(options.dir, segmentName(seq)), segmentFlags);
    fsyncDirSync(options.dir);
    return { journal: new Journal(options, { seq, fd, size: 0, applying: new Set() }), replayed };
  }

  private constructor(
    private readonly options: JournalOptions,
    segment: Segment,
  ) {
    this.segment = segment;
    this.maxBytes = options.maxBytes ?? 16 << 20;
    this.maxAgeMs = options.maxAgeMs ?? 10_000;
    this.maxBacklog = options.maxBacklog ?? { records: 4096, bytes: 64 << 20 };
  }

  /**
   * Appends one record and resolves once it is durable (one synchronized write shared with
   * whatever else is pending). Then runs `apply`, records in the order they were committed,
   * telling it where the record's put contents are on disk; `apply` must register its work at
   * once, before returning its promise, so that reads can wait for it. When it fails, the journal
   * takes no more records (the next start's replay applies it).
   */
  commit(ops: readonly JournalOp[], apply: (where: RecordLocation) => Promise<void>): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.closed) return Promise.reject(new Error("journal is closed"));
    const record = encodeRecord(ops);
    const bytes = record.reduce((n, b) => n + b.length, 0);
    const writes = ops.map((o) => (o.op === "put" ? o.content.byteLength : 0));
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ record, bytes, writes, apply, resolve, reject });
      if (!this.pumping) void this.pump();
    });
  }

  /** Makes the tree durable and drops every segment before the one this starts. */
  checkpoint(): Promise<void> {
    this.checkpointing ??= this.runCheckpoint().finally(() => (this.checkpointing = undefined));
    return this.checkpointing;
  }

  /** Waits for what is pending, checkpoints, and closes the (then empty) active segment. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.pumping || this.pending.length > 0) await new Promise((r) => setTimeout(r, 1));
    // A checkpoint that fails because an application failed meanwhile leaves the segments to the replay.
    if (!this.failed) await this.checkpoint().catch((err: unknown) => {
      if (!this.failed) throw err;
    });
    if (this.timer) clearTimeout(this.timer);
    await closeFd(this.segment.fd);
    if (!this.failed && this.segment.size === 0) {
      await fs.promises.unlink(join(this.options.dir, segmentName(this.segment.seq)));
      await fsyncDir(this.options.dir);
    }
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.pending.length > 0 || this.rotation) {
        if (this.rotation) await this.rotateNow();
        if (this.pending.length === 0) continue;
        const taken = this.pending;
        this.pending = [];
        if (this.failed) {
          for (const item of taken) item.reject(this.failed);
          continue;
        }
        const group = await this.withRoom(taken);
        if (group.length === 0) continue;
        const seg = this.segment;
        const bytes = group.reduce((n, i) => n + i.bytes, 0);
        const buffers = group.flatMap((i) => i.record ?? []);
        const offsets = group.map((i) => contentOffsets(i.record ?? []));
        // Written or not, no record's bytes are needed past this point: the contents a backlog
        // of applications waits for are read back from the segment, not held in memory.
        for (const item of group) item.record = undefined;
        try {
          const { bytesWritten: written } = await writevFd(seg.fd, buffers, seg.size);
          // A short write reports no error: the records would be torn on disk. The disk is full.
          if (written !== bytes) throw Object.assign(new Error(`short write: ${written} of ${bytes} bytes`), { code: "ENOSPC" });
        } catch (err) {
          // The tail is cut (and that made durable) so that no later open replays what no caller
          // was told was done. Cut, the segment is as it was: after no room, the journal goes on.
          const cut = await ftruncateFd(seg.fd, seg.size).then(() => fdatasyncFd(seg.fd)).then(() => true, () => false);
          if (!cut || !isNoSpaceCode(errnoCode(err))) this.fail(err, "journal write failed");
          for (const item of group) item.reject(err);
          continue;
        }
        this.stats.groups++;
        this.stats.records += group.length;
        if (seg.size === 0) this.armTimer();
        const segment = join(this.options.dir, segmentName(seg.seq));
        let at = seg.size;
        seg.size += bytes;
        group.forEach(({ apply, bytes: recordBytes, resolve, reject }, i) => {
          const start = at;
          at += recordBytes;
          const applied = apply({ segment, offsets: offsets[i]!.map((o) => start + o) }).catch((err: unknown) => {
            this.fail(err, "applying a committed record failed");
            throw err;
          });
          seg.applying.add(applied);
          this.backlog.records++;
          this.backlog.bytes += recordBytes;
          const behind = this.backlog.records > this.maxBacklog.records || this.backlog.bytes > this.maxBacklog.bytes;
          const done = () => {
            seg.applying.delete(applied);
            this.backlog.records--;
            this.backlog.bytes -= recordBytes;
          };
          applied.then(done, done);
          if (behind) applied.then(resolve, reject);
          else {
            resolve();
            applied.catch(() => {});
          }
        });
        if (seg.size >= this.maxBytes) void this.checkpoint().catch(() => {});
      }
    } finally {
      this.pumping = false;
    }
  }

  /**
   * The items of a group that the filesystem has room for, written and applied (`space`); the
   * others are refused. The estimate is generous: every block a record's puts start, one more per
   * operation (a directory may grow) and the journal's own. What it misses (inodes, a write racing
   * it) the applier waits out.
   */
  private async withRoom(group: Pending[]): Promise<Pending[]> {
    if (!this.options.space) return group;
    // A recent reading that showed plenty of room is reused, less what was admitted since: only a
    // filling disk costs a statfs per group.
    if (!this.room || this.room.free < plentyOfRoom || Date.now() - this.room.at > roomReadingMs) {
      try {
        this.room = { ...(await this.options.space()), at: Date.now() };
      } catch {
        // Not known: written, as without `space`.
        return group;
      }
    }
    const room = this.room;
    const block = room.blockSize;
    let need = 2 * block;
    const admitted = group.filter((item) => {
      const more = item.bytes + item.writes.reduce((n, w) => n + Math.ceil(w / block) * block + block, 0);
      if (need + more <= room.free) {
        need += more;
        return true;
      }
      item.reject(Object.assign(new Error(`no room: ${room.free} bytes free, and the write needs about ${need + more}`), { code: "ENOSPC" }));
      return false;
    });
    room.free -= need;
    return admitted;
  }

  /**
   * Refuses every later write. The journal and the tree may now disagree (a record durable but not
   * applied, or not known to be durable); the next start's replay repairs the tree.
   */
  private fail(err: unknown, what: string): void {
    this.failed ??= new JournalFailedError(`${what}; no further writes are accepted until a restart: ${(err as Error).message}`, { cause: err });
  }

  private armTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.checkpoint().catch(() => {}), this.maxAgeMs);
    this.timer.unref();
  }

  /** Starts a new segment between two groups; resolves the rotation with the old one. */
  private async rotateNow(): Promise<void> {
    const rotation = this.rotation!;
    this.rotation = undefined;
    try {
      const seq = this.segment.seq + 1;
      const fd = await promisify(fs.open)(join(this.options.dir, segmentName(seq)), segmentFlags);
      // The new segment's name must be durable before any record in it is acknowledged.
      await fsyncDir(this.options.dir);
      const old = this.segment;
      this.segment = { seq, fd, size: 0, applying: new Set() };
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      rotation.resolve(old);
    } catch (err) {
      rotation.reject(err);
    }
  }

  private async runCheckpoint(): Promise<void> {
    if (this.segment.size === 0 || this.failed) return;
    let resolve!: (old: Segment) => void;
    let reject!: (err: unknown) => void;
    const done = new Promise<Segment>((res, rej) => ((resolve = res), (reject = rej)));
    this.rotation = { done, resolve, reject };
    if (!this.pumping) void this.pump();
    const old = await done;
    await closeFd(old.fd);
    // Every record of the old segment is applied before the tree is synced; if one could not be,
    // the segment stays for the replay.
    while (old.applying.size > 0) await Promise.allSettled([...old.applying]);
    if (this.failed) throw this.failed;
    await this.options.syncTree();
    // Every segment before the active one, not only `old`: one an earlier failed checkpoint left
    // must never outlive a newer one, or a replay would apply it over newer state.
    for (const seq of listSegments(this.options.dir)) {
      if (seq < this.segment.seq) await fs.promises.unlink(join(this.options.dir, segmentName(seq)));
    }
    // The drop must be durable before a later checkpoint drops newer segments.
    await fsyncDir(this.options.dir);
    this.stats.checkpoints++;
  }
}
