/**
 * The one reader of layers: merge's conflict analysis, flatten, export, append and validate all read
 * tars here, so they agree on what a layer holds and on what is wrong with one. It reads what Go's
 * archive/tar (and so docker, containerd, skopeo and umoci) reads, and no more: ustar, GNU and PAX
 * headers (V7 too), long names and link names, every entry type a runtime unpacks, sparse files in
 * both of GNU tar's forms; gzip, zstd or no compression, by the leading bytes. Where an archive
 * ends, and how an old GNU sparse file reads, is tar-framing.ts's business: as Go frames a tar.
 */
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createHash } from "node:crypto";
import { createGunzip, createZstdDecompress } from "node:zlib";
import tar from "tar-stream";
import { ImageError } from "./types.js";
import { goFraming, LayerReadError, pushAgain } from "./tar-framing.js";

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

export { LayerReadError };

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

async function* corruptAs(kind: string, decoder: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  try {
    yield* decoder;
  } catch (err) {
    if (err instanceof ImageError) throw err;
    const message = (err as Error).message;
    throw new LayerReadError(/unexpected end of file/i.test(message) ? `its ${kind} stream ends early (the layer is truncated): ${pushAgain}` : `its ${kind} stream is corrupt (${message}): ${pushAgain}`);
  }
}

/** tar-stream's extractor over the tar as Go frames it; headers without the ustar or GNU magic are V7 ones, which Go reads too. */
function extractor(): tar.Extract {
  return tar.extract({ allowUnknownFormat: true } as Parameters<typeof tar.extract>[0]);
}

/** tar-stream's messages, and Node's, as a user can act on them. */
function readable(err: Error): LayerReadError {
  if (err instanceof LayerReadError) return err;
  const m = err.message;
  if (m === "Unexpected end of data") return new LayerReadError(`its tar ends in the middle of an entry (the layer is truncated): ${pushAgain}`, { cause: err });
  if (m.startsWith("Invalid tar header")) return new LayerReadError("it is not a tar archive (a header's checksum does not match): check how the layer was made and its media type", { cause: err });
  return new LayerReadError(m, { cause: err });
}

/** Streams a decompressed tar's entries; memory stays flat whatever the layer's size. */
async function* tarEntries(tarStream: Readable): AsyncGenerator<LayerEntry> {
  const extract = extractor();
  pipeline(Readable.from(goFraming(tarStream)), extract).catch((err: unknown) => extract.destroy(err as Error));
  try {
    for await (const entry of extract) yield entry as unknown as LayerEntry;
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
