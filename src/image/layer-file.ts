import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { lstat, mkdtemp, open, readdir, readlink, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { PassThrough, Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import tar from "tar-stream";
import { decompressed, readLayer } from "./layer-reader.js";
import { ImageError } from "./types.js";

/** A gzip layer written to a temporary file, with the two digests an image needs. */
export interface LayerFile {
  file: string;
  /** sha256 of the compressed bytes: the blob's digest. */
  digest: string;
  size: number;
  /** sha256 of the uncompressed tar: the config's diff_id. */
  diffId: string;
  cleanup(): Promise<void>;
}

function hashing(): { stream: Transform; digest: () => string; size: () => number } {
  const hash = createHash("sha256");
  let n = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _e, done) {
      hash.update(chunk);
      n += chunk.length;
      done(null, chunk);
    },
  });
  return { stream, digest: () => `sha256:${hash.digest("hex")}`, size: () => n };
}

/** Packs a directory as a tar (sorted, ownership zeroed, mtimes kept) without reading any file whole. */
export function packDirectory(root: string): Readable {
  const pack = tar.pack();
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(path.join(root, rel))).sort()) {
      const relPath = rel ? `${rel}/${name}` : name;
      const full = path.join(root, relPath);
      const st = await lstat(full);
      const common = { name: relPath, mode: st.mode & 0o7777, mtime: st.mtime, uid: 0, gid: 0 };
      if (st.isDirectory()) {
        pack.entry({ ...common, type: "directory" });
        await walk(relPath);
      } else if (st.isSymbolicLink()) pack.entry({ ...common, type: "symlink", linkname: await readlink(full) });
      else if (st.isFile()) {
        const entry = pack.entry({ ...common, size: st.size });
        await pipeline(createReadStream(full), entry);
      }
    }
  };
  walk("").then(() => pack.finalize(), (err: unknown) => pack.destroy(err as Error));
  // tar-stream's streams are streamx ones: adapt to a Node Readable for pipeline().
  return Readable.from(pack as AsyncIterable<Buffer>, { objectMode: false });
}

async function isGzip(file: string): Promise<boolean> {
  const fh = await open(file, "r");
  try {
    const { buffer } = await fh.read(Buffer.alloc(2), 0, 2, 0);
    return buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/**
 * Makes a gzip layer from a directory or a tarball (plain or gzip, kept as is when already gzip),
 * hashing compressed and uncompressed bytes in one pass.
 */
export async function makeLayer(input: string): Promise<LayerFile> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "lading-layer-"));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    const st = await lstat(input);
    if (st.isDirectory()) return await compressInto(dir, packDirectory(input), cleanup);
    // The tarball is read as every image tool reads a layer: one it cannot read is refused here, not pushed.
    const { diffId } = await readLayer(createReadStream(input)).catch((err: unknown) => {
      throw new ImageError(`${input}: ${(err as Error).message}`, { cause: err });
    });
    if (await isGzip(input)) {
      const packed = hashing();
      await pipeline(createReadStream(input), packed.stream, new PassThrough().resume());
      return { file: input, digest: packed.digest(), size: packed.size(), diffId, cleanup };
    }
    return await compressInto(dir, await decompressed(createReadStream(input)), cleanup);
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function compressInto(dir: string, tarStream: Readable, cleanup: () => Promise<void>): Promise<LayerFile> {
  const file = path.join(dir, "layer.tar.gz");
  const raw = hashing();
  const packed = hashing();
  await pipeline(tarStream, raw.stream, createGzip(), packed.stream, createWriteStream(file));
  return { file, digest: packed.digest(), size: packed.size(), diffId: raw.digest(), cleanup };
}

/** Gzips an uncompressed tar stream into a temporary layer file, hashing both forms in one pass. */
export async function compressLayer(tarStream: Readable): Promise<LayerFile> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "lading-layer-"));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    return await compressInto(dir, tarStream, cleanup);
  } catch (err) {
    tarStream.destroy();
    await cleanup();
    throw err;
  }
}
