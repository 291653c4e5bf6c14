import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { storageProblems } from "../api/storage-check.js";
import { runLading } from "../helpers/lading-cli.js";
import { startDockerRegistry, startLading, type RunningRegistry } from "../helpers/registries.js";
import type { FsckReport } from "../../src/registry/fsck.js";

/*
 * The kill harness. Rounds of a busy load through several clients at once (monolithic, chunked and
 * streamed uploads, mounts, manifest puts by tag and by digest, tag moves, manifest deletes), a
 * SIGKILL at a random moment, and then, on the same store:
 * - `lading fsck` finds it sound (after replaying what the kill left in the journal), and the bare
 *   tree holds nothing torn;
 * - after a restart, every manifest whose PUT was acknowledged (and whose delete was never sent)
 *   pulls by digest, byte for byte, with every blob it names; every tag names what its last
 *   acknowledged write made it name, or what a write in flight at the kill would have;
 * - every client retries what the kill interrupted, and succeeds.
 * Last, docker-registry serves the store a kill and `lading fsck` left.
 * CRASH_ROUNDS sets the number of rounds (4 by default); `npm run soak:crash` runs 50.
 */

const rounds = Number(process.env.CRASH_ROUNDS ?? 4);
const clients = 6;
const sha256 = (data: Buffer | string) => `sha256:${createHash("sha256").update(data).digest("hex")}`;
const ociManifest = "application/vnd.oci.image.manifest.v1+json";
const absent = "absent";

interface Image {
  manifest: string;
  digest: string;
  blobs: Buffer[];
}

/** What the clients were told: what must be there, and what each tag may name. */
class Expectations {
  /** `repo@digest` → the image, for manifests acknowledged and never since sent a delete. */
  readonly stored = new Map<string, Image>();
  /** `repo:tag` → the digests (or absent) it may name. */
  readonly tags = new Map<string, Set<string>>();

  private allowed(repo: string, tag: string): Set<string> {
    const key = `${repo}:${tag}`;
    let set = this.tags.get(key);
    if (set === undefined) this.tags.set(key, (set = new Set([absent])));
    return set;
  }

  /** A manifest put, by tag or by digest: the tag may name it from now on, and must once acknowledged. */
  async put(url: string, repo: string, reference: string, image: Image): Promise<void> {
    const tag = reference.startsWith("sha256:") ? undefined : this.allowed(repo, reference);
    tag?.add(image.digest);
    const res = await fetch(`${url}/v2/${repo}/manifests/${reference}`, { method: "PUT", body: image.manifest, headers: { "Content-Type": ociManifest } });
    await res.arrayBuffer();
    assert.equal(res.status, 201, `PUT ${repo}:${reference}`);
    this.stored.set(`${repo}@${image.digest}`, image);
    if (tag !== undefined) {
      tag.clear();
      tag.add(image.digest);
    }
  }

  /** A delete by digest: the manifest, and the tags naming it, may go from now on, and must once acknowledged. */
  async delete(url: string, repo: string, digest: string): Promise<void> {
    this.stored.delete(`${repo}@${digest}`);
    const naming = [...this.tags].filter(([key, set]) => key.startsWith(`${repo}:`) && set.has(digest)).map(([, set]) => set);
    for (const set of naming) set.add(absent);
    const res = await fetch(`${url}/v2/${repo}/manifests/${digest}`, { method: "DELETE" });
    await res.arrayBuffer();
    assert.equal(res.status, 202, `DELETE ${repo}@${digest}`);
    for (const set of naming) set.delete(digest);
  }
}

/** A blob, uploaded one of three ways. */
async function upload(url: string, repo: string, data: Buffer, how: number): Promise<void> {
  const digest = sha256(data);
  const ok = async (res: Response, status: number, what: string): Promise<Response> => {
    await res.arrayBuffer();
    assert.equal(res.status, status, `${what} ${repo} ${digest}`);
    return res;
  };
  if (how === 0) {
    await ok(await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: "POST", body: data }), 201, "monolithic upload");
    return;
  }
  let location = new URL((await ok(await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: "POST" }), 202, "POST")).headers.get("location")!, url);
  if (how === 1) {
    // Chunked: two PATCHes with Content-Range.
    const half = data.length >> 1;
    for (const [start, part] of [[0, data.subarray(0, half)], [half, data.subarray(half)]] as const) {
      const patch = await ok(await fetch(location, { method: "PATCH", body: part, headers: { "Content-Range": `${start}-${start + part.length - 1}`, "Content-Type": "application/octet-stream" } }), 202, "PATCH");
      location = new URL(patch.headers.get("location")!, url);
    }
  } else {
    // Streamed: one PATCH without a length, in pieces.
    const pieces = [data.subarray(0, 1000), data.subarray(1000)];
    const patch = await ok(await fetch(location, { method: "PATCH", body: Readable.toWeb(Readable.from(pieces)) as ReadableStream, duplex: "half", headers: { "Content-Type": "application/octet-stream" } } as RequestInit), 202, "streamed PATCH");
    location = new URL(patch.headers.get("location")!, url);
  }
  location.searchParams.set("digest", digest);
  await ok(await fetch(location, { method: "PUT" }), 201, "PUT");
}

function newImage(client: number, n: number): Image {
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", client, n, nonce: randomBytes(4).toString("hex") }));
  const layers = [randomBytes(3000 + n * 7), randomBytes(40_000)];
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: ociManifest,
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256(l), size: l.length })),
  });
  return { manifest, digest: sha256(manifest), blobs: [config, ...layers] };
}

/** One client: its own two repositories; each step a push, then sometimes a mount, a tag move or a delete. */
class Client {
  private n = 0;
  private readonly pushed: Image[] = [];
  /** What the kill interrupted, to retry. */
  interrupted: ((url: string) => Promise<void>) | undefined;
  constructor(
    private readonly id: number,
    private readonly expect: Expectations,
  ) {}

  get repo(): string {
    return `crash/c${this.id}/a`;
  }

  /** Steps until one fails (the server is gone): that step is kept to retry. */
  async run(url: string): Promise<void> {
    for (;;) {
      const step = this.next();
      try {
        await step(url);
      } catch {
        this.interrupted = step;
        return;
      }
    }
  }

  private next(): (url: string) => Promise<void> {
    const n = this.n++;
    const image = newImage(this.id, n);
    const mirror = `crash/c${this.id}/b`;
    const earlier = this.pushed[(n * 5) % Math.max(1, this.pushed.length)];
    return async (url) => {
      for (const blob of image.blobs) await upload(url, this.repo, blob, n % 3);
      await this.expect.put(url, this.repo, `t${n % 3}`, image);
      this.pushed.push(image);
      if (n % 4 === 1) {
        for (const blob of image.blobs) {
          const res = await fetch(`${url}/v2/${mirror}/blobs/uploads/?mount=${sha256(blob)}&from=${this.repo}`, { method: "POST" });
          await res.arrayBuffer();
          assert.equal(res.status, 201, "mount");
        }
        await this.expect.put(url, mirror, image.digest, image);
      }
      if (n % 7 === 3 && earlier !== undefined && this.expect.stored.has(`${this.repo}@${earlier.digest}`)) await this.expect.put(url, this.repo, "moving", earlier);
      if (n % 5 === 4 && earlier !== undefined && earlier !== image && this.expect.stored.has(`${this.repo}@${earlier.digest}`)) await this.expect.delete(url, this.repo, earlier.digest);
    };
  }
}

async function pullWhole(url: string, key: string, image: Image): Promise<void> {
  const [repo, digest] = key.split("@") as [string, string];
  const res = await fetch(`${url}/v2/${repo}/manifests/${digest}`, { headers: { Accept: ociManifest } });
  assert.equal(res.status, 200, `acknowledged manifest ${key} is gone`);
  assert.equal(sha256(Buffer.from(await res.arrayBuffer())), digest);
  for (const blob of image.blobs) {
    const got = await fetch(`${url}/v2/${repo}/blobs/${sha256(blob)}`);
    assert.equal(got.status, 200, `${key} names ${sha256(blob)}, which is not served`);
    assert.equal(sha256(Buffer.from(await got.arrayBuffer())), sha256(blob));
  }
}

async function checkTags(url: string, expect: Expectations): Promise<void> {
  for (const [key, allowed] of expect.tags) {
    const [repo, tag] = key.split(":") as [string, string];
    const res = await fetch(`${url}/v2/${repo}/manifests/${tag}`, { method: "HEAD", headers: { Accept: ociManifest } });
    const names = res.status === 404 ? absent : res.headers.get("docker-content-digest") ?? `status ${res.status}`;
    assert.ok(allowed.has(names), `tag ${key} names ${names}; allowed: ${[...allowed].join(", ")}`);
  }
}

describe("SIGKILL under load", () => {
  let storage: string;
  let lading: RunningRegistry | undefined;
  const expect = new Expectations();
  const all = Array.from({ length: clients }, (_, i) => new Client(i, expect));
  before(async () => {
    storage = await mkdtemp(join(tmpdir(), "lading-crash-"));
  });
  after(async () => {
    await lading?.stop();
    await rm(storage, { recursive: true, force: true });
  });

  /** Starts lading, runs every client, kills it at a random moment; the store must then be sound. */
  async function killUnderLoad(): Promise<void> {
    const server = await startLading(storage);
    lading = server;
    const running = all.map((client) => client.run(server.url));
    // Once something is acknowledged, a kill at a random moment within the next 1.5 s.
    const acknowledged = expect.stored.size;
    while (expect.stored.size === acknowledged) await new Promise((resolve) => setTimeout(resolve, 20));
    const delay = Math.floor(Math.random() * 1500);
    await new Promise((resolve) => setTimeout(resolve, delay));
    process.kill(server.process.pid!, "SIGKILL");
    await server.stop();
    lading = undefined;
    await Promise.all(running);

    assert.deepEqual(await storageProblems(storage, "anywhere"), [], `killed ${delay} ms in`);
    const fsck = await runLading(["fsck", "--storage", storage, "--json"]);
    const report = JSON.parse(fsck.stdout) as FsckReport;
    assert.deepEqual(report.problems, [], `killed ${delay} ms in`);
    assert.equal(fsck.code, 0, fsck.stderr);
  }

  for (let round = 1; round <= rounds; round++) {
    it(`loses nothing acknowledged, tears nothing, and takes the clients' retries (round ${round} of ${rounds})`, async () => {
      await killUnderLoad();

      lading = await startLading(storage);
      for (const [key, image] of expect.stored) await pullWhole(lading.url, key, image);
      await checkTags(lading.url, expect);
      // The retries succeed on the restarted server (and are checked with the rest next round).
      for (const client of all) {
        const retry = client.interrupted;
        client.interrupted = undefined;
        if (retry !== undefined) await retry(lading.url);
      }
      for (const [key, image] of expect.stored) await pullWhole(lading.url, key, image);
      await checkTags(lading.url, expect);
      await lading.stop();
      lading = undefined;
      assert.deepEqual(await storageProblems(storage, "uploads"), []);
    });
  }

  it("after a kill and lading fsck, docker-registry serves every acknowledged manifest whole", async () => {
    await killUnderLoad();
    const reference = await startDockerRegistry(storage, storage);
    try {
      for (const [key, image] of expect.stored) await pullWhole(reference.url, key, image);
      await checkTags(reference.url, expect);
    } finally {
      await reference.stop();
    }
  });
});
