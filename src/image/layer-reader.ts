import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, createZstdDecompress } from "node:zlib";
import tar from "tar-stream";
import { ImageError } from "./types.js";

export interface TarHeader {
  /** Normalized: no leading `./` or `/`, no trailing `/`. */
  path: string;
  type: string;
  size: number;
  mode: number;
  linkname: string | undefined;
}

export function normalizePath(name: string): string {
  const p = name.replace(/^(?:\.\/|\/)+/, "").replace(/\/+$/, "");
  return p === "." ? "" : p;
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
  if (startsWith(head, gzipMagic)) {
    const gunzip = createGunzip();
    pipeline(raw, gunzip).catch((err: unknown) => gunzip.destroy(err as Error));
    return gunzip;
  }
  if (!startsWith(head, zstdMagic)) return raw;
  const zstd = createZstdDecompress();
  pipeline(raw, zstd).catch(() => undefined); // the failure reaches the reader below
  return Readable.from(corruptAs("zstd", zstd), { objectMode: false });
}

async function* corruptAs(kind: string, decoder: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  try {
    yield* decoder;
  } catch (err) {
    throw new ImageError(`${kind} layer is corrupt: ${(err as Error).message}`);
  }
}

/** Streams a layer's tar headers, skipping file contents; memory stays flat whatever the layer size. */
export async function* layerHeaders(layer: Readable): AsyncGenerator<TarHeader> {
  const tarStream = await decompressed(layer);
  const extract = tar.extract();
  pipeline(tarStream, extract).catch((err: unknown) => extract.destroy(err as Error));
  for await (const entry of extract) {
    const h = entry.header;
    yield { path: normalizePath(h.name), type: h.type ?? "file", size: h.size ?? 0, mode: h.mode ?? 0, linkname: h.linkname ?? undefined };
    entry.resume();
  }
}
