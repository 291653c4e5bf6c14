/**
 * The one reader of layers: merge's conflict analysis, flatten, export, append and validate all read
 * tars here, so they agree on what a layer holds and on what is wrong with one. It reads what Go's
 * archive/tar (and so docker, containerd, skopeo and umoci) reads, and no more: ustar, GNU and PAX
 * headers (V7 too), long names and link names, every entry type a runtime unpacks; gzip, zstd or
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
/** One entry of a layer: its header and a stream of its content (which the reader must drain). */
export type LayerEntry = tar.Extract extends AsyncIterable<infer S> ? S : never;

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
  _buffer: { buffered: number };
}

/**
 * tar-stream's extractor, ending where Go's archive/tar ends: input that stops right after an
 * entry's content, before the padding to the next 512-byte block, is a whole archive there (Go
 * reads the padding with a read that may meet the end); a partial padding, header or content is not.
 */
function extractor(): tar.Extract {
  // Headers without the ustar or GNU magic are V7 ones, which Go reads too (the checksum still guards them).
  const extract = tar.extract({ allowUnknownFormat: true } as Parameters<typeof tar.extract>[0]);
  const state = extract as unknown as ExtractEnd;
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

/** Refuses what no runtime unpacks (tar-stream names every type it knows; the rest arrive without one). */
function checkEntry(header: EntryHeader): void {
  if (header.type === null || header.type === undefined) {
    throw new LayerReadError(`entry ${header.name} has a tar type that no runtime unpacks here (an old GNU sparse file, from GNU tar --sparse? make the layer with --format=posix)`);
  }
}

/** Streams a decompressed tar's entries; memory stays flat whatever the layer's size. */
async function* tarEntries(tarStream: Readable): AsyncGenerator<LayerEntry> {
  const extract = extractor();
  pipeline(tarStream, extract).catch((err: unknown) => extract.destroy(err as Error));
  try {
    for await (const entry of extract) {
      checkEntry(entry.header as EntryHeader);
      yield entry;
    }
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
