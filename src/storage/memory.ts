import { Readable, Writable } from "node:stream";
import {
  PathNotFoundError,
  StorageError,
  type Capabilities,
  type FileInfo,
  type FileWriter,
  type ListPage,
  type StorageDriver,
} from "./driver.js";
import { pageOf } from "./page.js";

/** A stored object. Chunks are only ever appended, so a reader can keep a snapshot of the array. */
interface Entry {
  chunks: Buffer[];
  size: number;
  modTime: Date;
}

function* slices(chunks: readonly Buffer[], start: number, end: number): Generator<Buffer> {
  let offset = 0;
  for (const chunk of chunks) {
    if (offset >= end) return;
    const from = Math.max(start - offset, 0);
    const to = Math.min(end - offset, chunk.length);
    if (from < to) yield chunk.subarray(from, to);
    offset += chunk.length;
  }
}

/**
 * Objects in a Map; directories are implicit, existing while some object's path lies beneath them.
 * The core alone (and exclusive ownership): the registry's fallbacks for the other capabilities run
 * on it, as they do on object storage.
 */
export class MemoryDriver implements StorageDriver {
  readonly name = "inmemory";
  readonly capabilities: Capabilities = { exclusive: true };
  private readonly files = new Map<string, Entry>();

  async getContent(path: string): Promise<Buffer> {
    const entry = this.object(path);
    return Buffer.concat(entry.chunks, entry.size);
  }

  async putContent(path: string, content: Uint8Array): Promise<void> {
    this.checkPlaceable(path);
    const copy = Buffer.from(content);
    this.files.set(path, { chunks: [copy], size: copy.length, modTime: new Date() });
  }

  async reader(path: string, range: { start?: number; end?: number } = {}): Promise<Readable> {
    const entry = this.object(path);
    const start = range.start ?? 0;
    const end = Math.min(range.end === undefined ? entry.size : range.end + 1, entry.size);
    return Readable.from(slices([...entry.chunks], start, end), { objectMode: false });
  }

  async writer(path: string, options: { append?: boolean } = {}): Promise<FileWriter> {
    this.checkPlaceable(path);
    const existing = options.append ? this.files.get(path) : undefined;
    const entry: Entry = existing ?? { chunks: [], size: 0, modTime: new Date() };
    this.files.set(path, entry);
    const initial = entry.size;
    let written = 0;
    const stream = new Writable({
      highWaterMark: 1 << 20,
      write(chunk: Buffer, _encoding, callback) {
        entry.chunks.push(chunk);
        entry.size += chunk.length;
        entry.modTime = new Date();
        written += chunk.length;
        callback();
      },
    });
    const release = async (): Promise<void> => {
      if (!stream.destroyed) stream.destroy();
    };
    return {
      stream,
      get size() {
        return initial + written;
      },
      close: release,
      commit: async () => {
        const failed = !stream.writableFinished || stream.errored !== null;
        await release();
        if (failed) throw new StorageError(`${this.name}: commit ${path}: stream not finished`, this.name);
      },
      cancel: async () => {
        await release();
        if (this.files.get(path) === entry) this.files.delete(path);
      },
    };
  }

  async stat(path: string): Promise<FileInfo> {
    const entry = this.files.get(path);
    if (entry) return { path, size: entry.size, modTime: entry.modTime, isDir: false };
    let modTime: Date | undefined;
    for (const [key, child] of this.files) {
      if (key.startsWith(prefixOf(path)) && (!modTime || child.modTime > modTime)) modTime = child.modTime;
    }
    if (!modTime) throw new PathNotFoundError(path, this.name);
    return { path, size: 0, modTime, isDir: true };
  }

  async list(path: string, page?: ListPage): Promise<string[]> {
    const prefix = prefixOf(path);
    const names = new Set<string>();
    for (const key of this.files.keys()) {
      if (key.startsWith(prefix)) names.add(key.slice(prefix.length).split("/")[0] ?? "");
    }
    if (names.size === 0) throw new PathNotFoundError(path, this.name);
    return pageOf([...names].sort(), page);
  }

  async move(source: string, dest: string): Promise<void> {
    const entry = this.files.get(source);
    if (entry) {
      this.checkPlaceable(dest);
      this.files.delete(source);
      this.files.set(dest, entry);
      return;
    }
    const prefix = prefixOf(source);
    const moving = [...this.files].filter(([key]) => key.startsWith(prefix));
    if (moving.length === 0) throw new PathNotFoundError(source, this.name);
    if (this.files.has(dest)) throw new StorageError(`${this.name}: move ${source} -> ${dest}: destination is an object`, this.name);
    for (const [key] of moving) this.files.delete(key);
    for (const [key, child] of moving) this.files.set(dest + key.slice(source.length), child);
  }

  async delete(path: string): Promise<void> {
    let found = this.files.delete(path);
    const prefix = prefixOf(path);
    for (const key of [...this.files.keys()]) {
      if (key.startsWith(prefix)) found = this.files.delete(key);
    }
    if (!found) throw new PathNotFoundError(path, this.name);
  }

  async close(): Promise<void> {}

  private object(path: string): Entry {
    const entry = this.files.get(path);
    if (!entry) throw new PathNotFoundError(path, this.name);
    return entry;
  }

  /** Like a filesystem: an object cannot replace a directory, nor live beneath another object. */
  private checkPlaceable(path: string): void {
    const prefix = prefixOf(path);
    for (const key of this.files.keys()) {
      if (key.startsWith(prefix)) throw new StorageError(`${this.name}: ${path} is a directory`, this.name);
    }
    for (let i = path.lastIndexOf("/"); i > 0; i = path.lastIndexOf("/", i - 1)) {
      if (this.files.has(path.slice(0, i))) throw new PathNotFoundError(path, this.name);
    }
  }
}

function prefixOf(dir: string): string {
  return dir === "/" ? "/" : `${dir}/`;
}
