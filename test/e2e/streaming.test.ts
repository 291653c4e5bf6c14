import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { after, before, describe, it } from "node:test";
import { startLading, type RunningRegistry } from "../helpers/registries.js";

/*
 * Blobs stream through the server: its peak memory for a 512 MiB blob, pushed in one streamed PATCH
 * and pulled back, is that of a 64 MiB one, give or take buffers. No timing is asserted.
 */

const MiB = 1 << 20;
const chunk = Buffer.alloc(MiB);
for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, i);

/** `size` bytes of deterministic data, generated chunk by chunk, never held whole. */
function* blobChunks(size: number): Generator<Buffer> {
  for (let sent = 0, n = 0; sent < size; sent += MiB, n++) {
    const part = Buffer.from(chunk.subarray(0, Math.min(MiB, size - sent)));
    part.writeUInt32LE(n, 0); // every MiB differs
    yield part;
  }
}

function digestOf(size: number): string {
  const hash = createHash("sha256");
  for (const part of blobChunks(size)) hash.update(part);
  return `sha256:${hash.digest("hex")}`;
}

async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

async function resetPeak(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, "5");
}

/** POST, one streamed PATCH with no Content-Length, PUT ?digest=; then GET, hashing what comes back. */
async function roundTrip(url: string, size: number): Promise<void> {
  const digest = digestOf(size);
  const post = await fetch(`${url}/v2/stream/test/blobs/uploads/`, { method: "POST" });
  const location = new URL(post.headers.get("location")!, url);
  const patched = await new Promise<string>((resolve, reject) => {
    const req = request(location, { method: "PATCH", headers: { "Content-Type": "application/octet-stream" } }, (res) => {
      res.resume();
      if (res.statusCode !== 202) reject(new Error(`PATCH answered ${res.statusCode}`));
      else resolve(res.headers.location!);
    });
    req.on("error", reject);
    pipeline(Readable.from(blobChunks(size)), req).catch(reject);
  });
  const put = new URL(patched, url);
  put.searchParams.set("digest", digest);
  const done = await fetch(put, { method: "PUT" });
  assert.equal(done.status, 201);
  const got = await fetch(`${url}/v2/stream/test/blobs/${digest}`);
  assert.equal(Number(got.headers.get("content-length")), size);
  const hash = createHash("sha256");
  for await (const part of got.body!) hash.update(part);
  assert.equal(`sha256:${hash.digest("hex")}`, digest);
}

describe("streaming", () => {
  let storage: string;
  let lading: RunningRegistry;
  before(async () => {
    storage = await mkdtemp(join(tmpdir(), "lading-stream-"));
    lading = await startLading(storage);
  });
  after(async () => {
    await lading.stop();
    await rm(storage, { recursive: true, force: true });
  });

  // The runtime's heap settles within the first tens of MiB moved (about 50 MiB over its idle size on
  // Node 24, bench/bounds.md): flat means no growth past that, from a 64 MiB blob to 512 MiB.
  it("keeps the server's memory flat from a 64 MiB blob to a 512 MiB one", async () => {
    const pid = lading.process.pid!;
    await roundTrip(lading.url, 64 * MiB); // warm up
    await resetPeak(pid);
    await roundTrip(lading.url, 64 * MiB);
    const small = await peakRss(pid);
    await resetPeak(pid);
    await roundTrip(lading.url, 512 * MiB);
    const large = await peakRss(pid);
    assert.ok(large - small < 48 * MiB, `peak RSS grew from ${small >> 20} MiB to ${large >> 20} MiB`);
  });
});
