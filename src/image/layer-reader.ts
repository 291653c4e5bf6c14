/**
 * The one reader of layers: merge's conflict analysis, flatten, export, append and validate all read
 * tars here, so they agree on what a layer holds and on what is wrong with one. It reads what Go's
 * archive/tar (and so docker, containerd, skopeo and umoci) reads, and no more: ustar, GNU and PAX
 * headers (V7 too), long names and link names, every entry type a runtime unpacks, sparse files in
 * both of GNU tar's forms; gzip, zstd or
 * no compression, by the leading bytes; an archive that ends without its end-of-archive blocks, or
 * with its last entry unpadded (as `umoci insert` writes them).
 */
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createHash } from "node:crypto";
import { createGunzip, createZstdDecompress } from "node:zlib";
import tar from "tar-stream";
import { ImageError } from "./types.js";

export interface TarHeader {
  /** Normalized: no leading `./` or `/`, no trailing `/`; a PAX sparse file's real name. */
  path: string;
  type: string;
  size: number;
  mode: number;
  linkname: string | undefined;
}

/** tar-stream passes PAX records (xattrs, long names, sparse maps) through; its types leave the field out. */
export type EntryHeader = Omit<tar.Header, "pax"> & { pax?: Record<string, string> };
/** One entry of a layer: its header and its content, which the reader must read or `resume()` to drain. */
export interface LayerEntry extends AsyncIterable<Uint8Array> {
  header: EntryHeader;
  resume(): unknown;
}

/** A layer that cannot be read: the message says why, in words a user can act on. */
export class LayerReadError extends ImageError {
  override name = "LayerReadError";
}

export function normalizePath(name: string): string {
  const p = name.replace(/^(?:\.\/|\/)+/, "").replace(/\/+$/, "");
  return p === "." ? "" : p;
}

/** Where an entry lands in the filesystem: a GNU sparse file written as PAX carries its real name in a record. */
export function entryPath(header: EntryHeader): string {
  return normalizePath(header.pax?.["GNU.sparse.name"] ?? header.name);
}

const gzipMagic = [0x1f, 0x8b];
const zstdMagic = [0x28, 0xb5, 0x2f, 0xfd];
const startsWith = (b: Buffer, magic: number[]) => magic.every((m, i) => b[i] === m);

/**
 * The uncompressed tar of a layer, by its leading bytes rather than its media type (which some
 * registries and tools get wrong): gzip and zstd through zlib.
 */
export async function decompressed(layer: Readable): Promise<Readable> {
  const it = layer[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  const firstChunks: Buffer[] = [];
  while (head.length < 4) {
    const next = (await it.next()) as IteratorResult<Buffer>;
    if (next.done) break;
    firstChunks.push(next.value);
    head = Buffer.concat([head, next.value]);
  }
  async function* rest(): AsyncGenerator<Buffer> {
    yield* firstChunks;
    for (let n = (await it.next()) as IteratorResult<Buffer>; !n.done; n = (await it.next()) as IteratorResult<Buffer>) yield n.value;
  }
  const raw = Readable.from(rest(), { objectMode: false });
  const kind = startsWith(head, gzipMagic) ? "gzip" : startsWith(head, zstdMagic) ? "zstd" : undefined;
  if (kind === undefined) return raw;
  const decoder = kind === "gzip" ? createGunzip() : createZstdDecompress();
  pipeline(raw, decoder).catch(() => undefined); // the failure reaches the reader below
  return Readable.from(corruptAs(kind, decoder), { objectMode: false });
}

const pushAgain = "push the image again from where it was built";

async function* corruptAs(kind: string, decoder: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  try {
    yield* decoder;
  } catch (err) {
    if (err instanceof ImageError) throw err;
    const message = (err as Error).message;
    throw new LayerReadError(/unexpected end of file/i.test(message) ? `its ${kind} stream ends early (the layer is truncated): ${pushAgain}` : `its ${kind} stream is corrupt (${message}): ${pushAgain}`);
  }
}

/** The parts of tar-stream's extractor that decide how an archive may end. */
interface ExtractEnd {
  _final(cb: (err?: Error | null) => void): void;
  _stream: unknown;
  _longHeader: boolean;
  _missing: number;
  _header: { size?: number } | null;
  _buffer: { buffered: number; shift(size: number): Buffer };
}

/** The raw 512-byte block of each entry's header, for what tar-stream does not decode (an old GNU sparse map). */
const rawHeaders = new WeakMap<object, Buffer>();

/**
 * tar-stream's extractor, ending where Go's archive/tar ends: input that stops right after an
 * entry's content, before the padding to the next 512-byte block, is a whole archive there (Go
 * reads the padding with a read that may meet the end); a partial padding, header or content is not.
 */
function extractor(): tar.Extract {
  // Headers without the ustar or GNU magic are V7 ones, which Go reads too (the checksum still guards them).
  const extract = tar.extract({ allowUnknownFormat: true } as Parameters<typeof tar.extract>[0]);
  const state = extract as unknown as ExtractEnd;
  // tar-stream decodes a header from the last 512-byte block it shifts, then announces the entry.
  let lastBlock: Buffer | undefined;
  const shift = state._buffer.shift.bind(state._buffer);
  state._buffer.shift = (size) => {
    const block = shift(size);
    if (size === 512) lastBlock = block;
    return block;
  };
  extract.on("entry", (header: object) => {
    if (lastBlock !== undefined) rawHeaders.set(header, Buffer.from(lastBlock));
  });
  const final = state._final.bind(extract);
  state._final = (cb) => {
    const padding = state._header?.size === undefined ? -1 : (512 - (state._header.size % 512)) % 512;
    if (state._stream === null && !state._longHeader && state._buffer.buffered === 0 && state._missing === padding) state._missing = 0;
    final(cb);
  };
  return extract;
}

/** tar-stream's messages, and Node's, as a user can act on them. */
function readable(err: Error): LayerReadError {
  if (err instanceof LayerReadError) return err;
  const m = err.message;
  if (m === "Unexpected end of data") return new LayerReadError(`its tar ends in the middle of an entry (the layer is truncated): ${pushAgain}`, { cause: err });
  if (m.startsWith("Invalid tar header")) return new LayerReadError("it is not a tar archive (a header's checksum does not match): check how the layer was made and its media type", { cause: err });
  if (m === "Header exceeds max size") return new LayerReadError("a long-name or PAX header is larger than 1 MiB", { cause: err });
  if (m === "Invalid header") return new LayerReadError("a tar header holds an invalid size", { cause: err });
  return new LayerReadError(m, { cause: err });
}

/** A number field of a tar header: octal, or base-256 when its top bit is set. */
function headerNumber(block: Buffer, offset: number, length: number): number {
  const field = block.subarray(offset, offset + length);
  if ((field[0]! & 0x80) !== 0) return field.subarray(1).reduce((n, byte) => n * 256 + byte, field[0]! & 0x7f);
  const text = field.toString("latin1").replace(/\0.*$/s, "").trim();
  return text === "" ? 0 : parseInt(text, 8);
}

interface Segment {
  offset: number;
  length: number;
}

/**
 * An old GNU sparse entry (type 'S', what GNU tar --sparse writes in its default format), as Go's
 * archive/tar presents it: a regular file of its real size whose holes read as zeros. The map of
 * up to four data segments is in the header; one that continues in extension blocks is refused.
 */
function oldGnuSparse(entry: LayerEntry, block: Buffer): LayerEntry {
  const h = entry.header;
  if (block[482] !== 0) throw new LayerReadError(`entry ${h.name} is an old GNU sparse file of more than 4 data segments, which lading does not read yet: make the layer with tar --format=posix`);
  const segments: Segment[] = [];
  for (let i = 0; i < 4; i++) {
    const offset = headerNumber(block, 386 + i * 24, 12);
    const length = headerNumber(block, 398 + i * 24, 12);
    if (offset !== 0 || length !== 0) segments.push({ offset, length });
  }
  const realSize = headerNumber(block, 483, 12);
  const stored = segments.reduce((n, seg) => n + seg.length, 0);
  const ordered = segments.every((seg, i) => i === 0 || seg.offset >= segments[i - 1]!.offset + segments[i - 1]!.length);
  if (stored !== h.size || !ordered || segments.some((seg) => seg.offset + seg.length > realSize)) {
    throw new LayerReadError(`entry ${h.name} is an old GNU sparse file whose map does not fit its data`);
  }
  return {
    header: { ...h, type: "file", size: realSize },
    resume: () => entry.resume(),
    [Symbol.asyncIterator]: () => expand(entry, segments, realSize),
  };
}

/** The content of a sparse file: its data segments in place, zeros between and after them. */
async function* expand(data: AsyncIterable<Uint8Array>, segments: Segment[], size: number): AsyncGenerator<Uint8Array> {
  const zeros = function* (n: number): Generator<Uint8Array> {
    for (let left = n; left > 0; left -= 65536) yield Buffer.alloc(Math.min(left, 65536));
  };
  let position = 0;
  let pending = Buffer.alloc(0);
  const source = data[Symbol.asyncIterator]();
  for (const segment of segments) {
    yield* zeros(segment.offset - position);
    let left = segment.length;
    while (left > 0) {
      if (pending.length === 0) {
        const next = await source.next();
        if (next.done) throw new LayerReadError("an old GNU sparse file ends before its data");
        pending = Buffer.from(next.value);
      }
      const part = pending.subarray(0, left);
      pending = pending.subarray(part.length);
      left -= part.length;
      yield part;
    }
    position = segment.offset + segment.length;
  }
  yield* zeros(size - position);
}

/** Presents an entry as Go's archive/tar does, or refuses what no runtime unpacks (tar-stream names every type it knows). */
function readEntry(entry: LayerEntry): LayerEntry {
  const h = entry.header;
  if (h.type !== null && h.type !== undefined) return entry;
  const block = rawHeaders.get(h);
  if (block?.[156] === 0x53) return oldGnuSparse(entry, block);
  throw new LayerReadError(`entry ${h.name} has a tar entry type (${JSON.stringify(String.fromCharCode(block?.[156] ?? 0x3f))}) that no runtime unpacks`);
}

/** Streams a decompressed tar's entries; memory stays flat whatever the layer's size. */
async function* tarEntries(tarStream: Readable): AsyncGenerator<LayerEntry> {
  const extract = extractor();
  pipeline(tarStream, extract).catch((err: unknown) => extract.destroy(err as Error));
  try {
    for await (const entry of extract) yield readEntry(entry as unknown as LayerEntry);
  } catch (err) {
    throw readable(err as Error);
  }
}

/** Streams a layer's entries, compressed or not. */
export async function* layerEntries(layer: Readable): AsyncGenerator<LayerEntry> {
  yield* tarEntries(await decompressed(layer));
}

/** Streams a layer's tar headers, skipping file contents. */
export async function* layerHeaders(layer: Readable): AsyncGenerator<TarHeader> {
  for await (const entry of layerEntries(layer)) {
    const h = entry.header as EntryHeader;
    const realSize = Number(h.pax?.["GNU.sparse.realsize"] ?? h.pax?.["GNU.sparse.size"] ?? h.size ?? 0);
    yield { path: entryPath(h), type: h.type ?? "file", size: realSize, mode: h.mode ?? 0, linkname: h.linkname ?? undefined };
    entry.resume();
  }
}

export interface LayerSummary {
  /** sha256 of the uncompressed tar, as a diff_id is. */
  diffId: string;
  entries: number;
}

/** Reads a whole layer as a runtime would unpack it: hashes the tar and parses every entry. */
export async function readLayer(layer: Readable): Promise<LayerSummary> {
  const hash = createHash("sha256");
  const tarStream = await decompressed(layer);
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  tarStream.on("error", (err) => hashing.destroy(err));
  let entries = 0;
  for await (const entry of tarEntries(tarStream.pipe(hashing))) {
    entries++;
    entry.resume();
  }
  return { diffId: `sha256:${hash.digest("hex")}`, entries };
}
