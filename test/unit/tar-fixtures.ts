import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";

/** A tar entry for a crafted layer: a file with content, a directory, or a link. */
export type TarSpec =
  | { name: string; content: string; mode?: number }
  | { name: string; dir: true }
  | { name: string; symlink: string }
  | { name: string; hardlink: string };

/** Builds a tar in memory from entries, in the order given (whiteouts are just files named `.wh.*`). */
export async function makeTar(entries: TarSpec[], gzip = false): Promise<Buffer> {
  const pack = tar.pack();
  const mtime = new Date(0);
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if ("content" in e) pack.entry({ name: e.name, mode: e.mode ?? 0o644, mtime }, e.content, done);
      else if ("dir" in e) pack.entry({ name: e.name, type: "directory", mode: 0o755, mtime }, done);
      else if ("symlink" in e) pack.entry({ name: e.name, type: "symlink", linkname: e.symlink, mtime }, done);
      else pack.entry({ name: e.name, type: "link", linkname: e.hardlink, mtime }, done);
    });
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  const raw = Buffer.concat(chunks);
  return gzip ? gzipSync(raw) : raw;
}

export interface ReadEntry {
  name: string;
  type: string;
  content: string;
  linkname: string | undefined;
}

/** Reads a tar stream back into a list of entries with their contents. */
export async function readTar(stream: Readable | Buffer): Promise<ReadEntry[]> {
  const extract = tar.extract();
  const source = Buffer.isBuffer(stream) ? Readable.from([stream]) : stream;
  source.pipe(extract as unknown as NodeJS.WritableStream);
  source.on("error", (err) => extract.destroy(err));
  const out: ReadEntry[] = [];
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(Buffer.from(c as Uint8Array));
    out.push({ name: entry.header.name, type: entry.header.type, content: Buffer.concat(chunks).toString("utf8"), linkname: entry.header.linkname || undefined });
  }
  return out;
}
