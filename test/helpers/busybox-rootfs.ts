/**
 * A root filesystem as a tar, for `docker import`: Debian's static busybox (busybox-static) and a
 * symlink per applet the tests use. The machine reaches no image registry, so every image a test
 * builds or runs starts from this one.
 */
import { readFile } from "node:fs/promises";
import tar, { type Header } from "tar-stream";

const BUSYBOX = "/bin/busybox";
const APPLETS = ["sh", "cat", "echo", "ls", "mkdir", "rm", "cp", "mv", "touch", "true", "false", "env", "test", "sleep", "printf", "grep", "wc", "id"];

let cached: Promise<Buffer> | undefined;

/** The tar's bytes (built once per process; fixed timestamps, so always the same bytes). */
export function busyboxRootfsTar(): Promise<Buffer> {
  cached ??= build();
  return cached;
}

async function build(): Promise<Buffer> {
  const busybox = await readFile(BUSYBOX).catch((cause: unknown) => {
    throw new Error(`cannot read ${BUSYBOX} (install busybox-static)`, { cause });
  });
  const mtime = new Date(0);
  const pack = tar.pack();
  // Read while writing: a 2 MB entry does not fit in the pack's buffer.
  const bytes = collect(pack as AsyncIterable<Uint8Array>);
  const add = (header: Partial<Header> & { name: string }, body?: Buffer): Promise<void> =>
    new Promise((resolve, reject) => {
      const done = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (body === undefined) pack.entry({ mtime, ...header }, done);
      else pack.entry({ mtime, ...header }, body, done);
    });
  await add({ name: "bin", type: "directory", mode: 0o755 });
  await add({ name: "etc", type: "directory", mode: 0o755 });
  await add({ name: "tmp", type: "directory", mode: 0o1777 });
  await add({ name: "bin/busybox", mode: 0o755 }, busybox);
  for (const applet of APPLETS) await add({ name: `bin/${applet}`, type: "symlink", linkname: "busybox" });
  pack.finalize();
  return bytes;
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}
