import * as fs from "node:fs";
import { promisify } from "node:util";
import { Writable } from "node:stream";
import { errnoCode } from "./errno.js";

/**
 * Big-blob I/O through reused, page-aligned buffers ("slabs"), by direct I/O (O_DIRECT) where the
 * filesystem allows it, as nginx's `directio` and MinIO do for big objects.
 *
 * Why: a blob streamed through the page cache costs the kernel a copy into freshly allocated
 * pages, and on virtual machines whose free memory the host reclaims (virtio-balloon free page
 * reporting) every such page costs the host a fault as well: most of the server's CPU time in a
 * push was that copy. Direct I/O moves the bytes between the device and a slab that this process
 * reuses, so they are never copied into the page cache, and reads never allocate a buffer per chunk
 * (whose garbage-collection cost was a third of a pull's CPU time). Slabs come from WebAssembly
 * memory, the one allocation in Node with a page-aligned address, as O_DIRECT requires.
 */
export const slabSize = 1 << 20;

/** O_DIRECT's alignment for offsets and lengths: the largest logical block size of common devices. */
const align = 4096;

/** WebAssembly's memory, as far as slabs need it (Node has it; TypeScript's ES libraries do not). */
declare const WebAssembly: { Memory: new (descriptor: { initial: number }) => { readonly buffer: ArrayBuffer } };

const read = promisify(fs.read);
const write = promisify(fs.write);

/** A fixed number of slabs, handed out last-returned-first, so the memory in use stays warm. */
export class SlabPool {
  private readonly free: Buffer[] = [];
  private memory: { readonly buffer: ArrayBuffer } | undefined;
  private made = 0;

  constructor(readonly max: number) {}

  /** Two slabs, or none when fewer are free (the caller then does buffered I/O). */
  takePair(): [Buffer, Buffer] | undefined {
    const a = this.take();
    if (!a) return undefined;
    const b = this.take();
    if (!b) {
      this.give(a);
      return undefined;
    }
    return [a, b];
  }

  give(...taken: Buffer[]): void {
    this.free.push(...taken);
  }

  /** Slabs that `takePair` can still hand out. */
  get idle(): number {
    return this.free.length + this.max - this.made;
  }

  private take(): Buffer | undefined {
    const slab = this.free.pop();
    if (slab) return slab;
    if (this.made >= this.max) return undefined;
    // Reserved, not resident: a slab's pages become resident when it is first used.
    this.memory ??= new WebAssembly.Memory({ initial: (this.max * slabSize) / 65536 });
    return Buffer.from(this.memory.buffer, this.made++ * slabSize, slabSize);
  }
}

/** Slabs for the whole process: 32 MiB at most, two per big blob being written or read. */
export const slabs = new SlabPool(32);

/** Opens `path` for direct I/O, or returns undefined where the filesystem has none (tmpfs, some FUSE). */
export function openDirect(path: string, flags: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    fs.open(path, flags | fs.constants.O_DIRECT, (err, fd) => {
      if (!err) resolve(fd);
      else if (errnoCode(err) === "EINVAL" || errnoCode(err) === "EOPNOTSUPP") resolve(undefined);
      else reject(err);
    });
  });
}

/**
 * A write stream into a file from its current end, through two slabs: incoming chunks are copied
 * into one slab while the other is written, a whole slab at a time and by direct I/O where the
 * file's fd allows it; the final partial block goes through the page cache (`fd`). At most one
 * write is in flight, so a failure leaves the file a prefix of what was sent. Destroying the stream
 * closes both fds and returns the slabs.
 */
export class SlabWriteStream extends Writable {
  bytesWritten = 0;
  /** The file offset of the slab's first byte (block-aligned). */
  private base: number;
  /** Bytes in the slab, including the head of a partial block read back at the start. */
  private fill: number;
  private inflight: Promise<void> | undefined;
  /** The chunk being copied in, settled (its errors go to its write callback). */
  private copying: Promise<void> | undefined;
  /** Every byte is in the file (`_final` ran to its end). */
  private finished = false;

  constructor(
    private readonly fd: number,
    private direct: number | undefined,
    initial: number,
    private slabs: [Buffer, Buffer],
    private readonly pool: SlabPool,
  ) {
    // Not destroyed when finished: the owner syncs the fd first (FileWriter.commit), then destroys.
    super({ highWaterMark: slabSize, autoDestroy: false });
    this.base = initial - (initial % align);
    this.fill = initial - this.base;
  }

  override _construct(callback: (err?: Error | null) => void): void {
    if (this.fill === 0) return callback();
    // The file ends inside a block: its head is read back, so the slab's writes stay aligned.
    read(this.fd, this.slabs[0], 0, this.fill, this.base).then(
      ({ bytesRead }) => callback(bytesRead === this.fill ? null : new Error(`short read of ${bytesRead} bytes`)),
      callback,
    );
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.fill + chunk.length < slabSize) {
      // Most chunks fit in the slab: copied at once, no write to start and nothing to wait for.
      chunk.copy(this.slabs[0], this.fill);
      this.fill += chunk.length;
      this.bytesWritten += chunk.length;
      return callback();
    }
    const copying = this.copyIn(chunk);
    this.copying = copying.catch(() => {});
    copying.then(() => callback(), callback);
  }

  /** Copies a chunk into the slab, writing each slab that fills (after the write in flight). */
  private async copyIn(chunk: Buffer): Promise<void> {
    let at = 0;
    while (at < chunk.length) {
      const n = chunk.copy(this.slabs[0], this.fill, at);
      this.fill += n;
      this.bytesWritten += n;
      at += n;
      if (this.fill === slabSize) await this.flushFull();
    }
  }

  override _final(callback: (err?: Error | null) => void): void {
    const finish = async () => {
      await this.inflight;
      const aligned = this.fill - (this.fill % align);
      if (aligned > 0) await this.writeOut(this.slabs[0], aligned, this.base, this.direct);
      if (this.fill > aligned) await this.writeOut(this.slabs[0].subarray(aligned, this.fill), this.fill - aligned, this.base + aligned, undefined);
      this.finished = true;
    };
    const finishing = finish();
    finishing.catch(() => {});
    this.inflight = finishing;
    finishing.then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (err?: Error | null) => void): void {
    const release = async () => {
      let writing = true;
      try {
        // A chunk being copied is finished first: the stream took it in whole.
        await this.copying;
        await this.inflight;
      } catch {
        writing = false;
      }
      // A transfer cut short keeps every byte the stream took in (an upload resumes from there),
      // unless writing had failed already: the file stays a prefix of what was sent.
      if (writing && !this.finished && this.bytesWritten > 0 && this.fill > 0) {
        await this.writeOut(this.slabs[0], this.fill, this.base, undefined).catch(() => {});
      }
      // The slabs go back only once no write uses them.
      this.pool.give(...this.slabs);
      let closeError: Error | null = null;
      let open = this.direct === undefined ? 1 : 2;
      const closed = (err: Error | null) => {
        closeError ??= err;
        if (--open === 0) callback(error ?? closeError);
      };
      fs.close(this.fd, closed);
      if (this.direct !== undefined) fs.close(this.direct, closed);
    };
    void release();
  }

  private async flushFull(): Promise<void> {
    await this.inflight;
    const full = this.slabs[0];
    this.slabs = [this.slabs[1], full];
    const at = this.base;
    this.base += slabSize;
    this.fill = 0;
    const writing = this.writeOut(full, slabSize, at, this.direct);
    writing.catch(() => {});
    this.inflight = writing;
  }

  /** Writes `length` bytes at `position`, directly when `direct` is given and the fs takes it. */
  private async writeOut(buffer: Buffer, length: number, position: number, direct: number | undefined): Promise<void> {
    let done = 0;
    if (direct !== undefined) {
      try {
        done = (await write(direct, buffer, 0, length, position)).bytesWritten;
      } catch (err) {
        if (errnoCode(err) !== "EINVAL") throw err;
        // This file or fs refuses direct I/O after all: the page cache from here on.
        this.direct = undefined;
        fs.close(direct, () => {});
      }
    }
    while (done < length) done += (await write(this.fd, buffer, done, length - done, position + done)).bytesWritten;
  }
}

/**
 * Writes the bytes [start, end] of an open file into `dest` (without ending it) through two slabs:
 * one is read while the other is being sent, and a slab is read into again only after `dest` has
 * handed its bytes to the kernel. With `direct` (the same file opened with O_DIRECT), reads start
 * at an aligned offset and run whole slabs; a refusal (EINVAL) moves them to `fd`. Resolves when
 * every byte has been handed over; rejects when the file ends early or `dest` fails or closes.
 * The slabs go back to the pool once nothing reads into them and `dest` holds none of their bytes.
 */
export async function sendFile(file: { fd: number; direct: number | undefined }, start: number, end: number, dest: Writable, pair: [Buffer, Buffer], pool: SlabPool): Promise<void> {
  let direct = file.direct;
  /** Fails the writes `dest` has not called back yet. */
  const pending = new Set<(err: Error) => void>();
  let finished = false;
  const giveBack = () => {
    if (finished && pending.size === 0) {
      pool.give(...pair);
    }
  };
  /** Resolves when the slab's bytes are with the kernel (dest's write callback). */
  const sent: Array<Promise<void> | undefined> = [undefined, undefined];
  const send = (i: number, bytes: Buffer) => {
    sent[i] = new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: Error | null) => {
        if (settled) return;
        settled = true;
        pending.delete(settle);
        giveBack();
        if (err) reject(err);
        else resolve();
      };
      pending.add(settle);
      dest.write(bytes, settle);
    });
    sent[i]!.catch(() => {});
  };
  // dest's errors belong to this transfer, as with pipeline. A dest that closes may never call back
  // the writes it holds (a response whose socket died); closed, it holds none of our memory.
  let failed: Error | undefined;
  const onError = (err: Error) => (failed ??= err);
  const onClose = () => {
    failed ??= new Error("the destination closed");
    for (const settle of [...pending]) settle(failed);
  };
  dest.on("error", onError);
  dest.on("close", onClose);
  const stop = end + 1;
  /** Reads into slab i at `position`: the bytes read, and how many were asked for. */
  const readAt = async (i: number, position: number): Promise<{ n: number; asked: number }> => {
    await sent[i];
    if (direct !== undefined) {
      try {
        return { n: (await read(direct, pair[i]!, 0, slabSize, position)).bytesRead, asked: slabSize };
      } catch (err) {
        if (errnoCode(err) !== "EINVAL") throw err;
        direct = undefined;
      }
    }
    const asked = Math.min(slabSize, stop - position);
    return { n: (await read(file.fd, pair[i]!, 0, asked, position)).bytesRead, asked };
  };
  let position = direct !== undefined ? start - (start % align) : start;
  let reading = readAt(0, position);
  try {
    let skip = start - position;
    let i = 0;
    while (position < stop) {
      const { n, asked } = await reading;
      const next = position + n;
      if (n <= skip || (n < asked && next < stop)) throw new Error(`file ended at byte ${next}, before byte ${stop}`);
      if (next < stop) reading = readAt(1 - i, next);
      if (failed) throw failed;
      if (dest.destroyed) throw new Error("the destination closed");
      send(i, pair[i]!.subarray(skip, Math.min(n, stop - position)));
      skip = 0;
      position = next;
      i = 1 - i;
    }
    await Promise.all(sent);
  } finally {
    // No read may still be filling a slab when the slabs go back.
    await reading.catch(() => {});
    dest.off("error", onError);
    dest.off("close", onClose);
    finished = true;
    giveBack();
  }
}
