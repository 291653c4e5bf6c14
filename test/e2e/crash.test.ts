import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { storageProblems } from "../api/storage-check.js";
import { startLading, type RunningRegistry } from "../helpers/registries.js";

/*
 * A registry killed with SIGKILL at an arbitrary moment of a busy push load, then restarted on the
 * same storage, must hold only whole blobs, valid links and tags that resolve: the old state or the
 * new one of every write, never a torn one, and nothing half-made inside docker/registry/v2.
 */

const sha256 = (data: Buffer | string) => `sha256:${createHash("sha256").update(data).digest("hex")}`;
const repos = ["crash/a", "crash/b", "crash/deep/c"];
const tags = ["latest", "v1", "v2", "stable"];

async function pushBlob(url: string, repo: string, data: Buffer, round: number): Promise<string> {
  const digest = sha256(data);
  if (round % 3 === 0) {
    const res = await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: "POST", body: data });
    await res.arrayBuffer();
    return digest;
  }
  const start = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  await start.arrayBuffer();
  let location = new URL(start.headers.get("location")!, url);
  const half = data.length >> 1;
  const patch = await fetch(location, { method: "PATCH", body: data.subarray(0, half), headers: { "Content-Range": `0-${half - 1}` } });
  await patch.arrayBuffer();
  location = new URL(patch.headers.get("location")!, url);
  location.searchParams.set("digest", digest);
  const put = await fetch(location, { method: "PUT", body: data.subarray(half) });
  await put.arrayBuffer();
  return digest;
}

/** One image push (config, two layers, manifest under a tag), sometimes followed by a delete. */
async function pushImage(url: string, round: number): Promise<void> {
  const repo = repos[round % repos.length]!;
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", round }));
  const layers = [randomBytes(4096 + (round % 7) * 1000), randomBytes(70_000)];
  const configDigest = await pushBlob(url, repo, config, round);
  const layerDigests: string[] = [];
  for (const layer of layers) layerDigests.push(await pushBlob(url, repo, layer, round));
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length },
    layers: layers.map((l, i) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: layerDigests[i], size: l.length })),
  });
  const put = await fetch(`${url}/v2/${repo}/manifests/${tags[round % tags.length]}`, {
    method: "PUT",
    body: manifest,
    headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" },
  });
  await put.arrayBuffer();
  if (round % 5 === 4) await (await fetch(`${url}/v2/${repo}/manifests/${sha256(manifest)}`, { method: "DELETE" })).arrayBuffer();
}

/** Runs `workers` push loops until the server dies under them. */
function load(url: string, workers: number): Promise<void> {
  let round = 0;
  const worker = async () => {
    for (;;) {
      try {
        await pushImage(url, round++);
      } catch {
        return; // the server is gone
      }
    }
  };
  return Promise.all(Array.from({ length: workers }, worker)).then(() => {});
}

/** Every repository, tag, manifest and layer reachable through the API, checked byte for byte. */
async function checkReachable(url: string): Promise<number> {
  const catalog = (await (await fetch(`${url}/v2/_catalog`)).json()) as { repositories: string[] };
  let checked = 0;
  for (const repo of catalog.repositories) {
    assert.ok(!repo.split("/").some((part) => part.startsWith(".")), `catalog shows ${repo}`);
    const list = (await (await fetch(`${url}/v2/${repo}/tags/list`)).json()) as { tags: string[] };
    for (const tag of list.tags) {
      assert.ok(tags.includes(tag), `tag list of ${repo} shows ${tag}`);
      const res = await fetch(`${url}/v2/${repo}/manifests/${tag}`, { headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } });
      assert.equal(res.status, 200, `${repo}:${tag} is listed but does not resolve: a dangling tag`);
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(res.headers.get("docker-content-digest"), sha256(body));
      const manifest = JSON.parse(body.toString()) as { config: { digest: string }; layers: Array<{ digest: string; size: number }> };
      for (const blob of [manifest.config, ...manifest.layers]) {
        const got = await fetch(`${url}/v2/${repo}/blobs/${blob.digest}`);
        assert.equal(got.status, 200, `${repo}:${tag} names ${blob.digest}, which is not served`);
        assert.equal(sha256(Buffer.from(await got.arrayBuffer())), blob.digest);
      }
      checked++;
    }
  }
  return checked;
}

describe("SIGKILL under load", () => {
  let storage: string;
  let lading: RunningRegistry | undefined;
  before(async () => {
    storage = await mkdtemp(join(tmpdir(), "lading-crash-"));
  });
  after(async () => {
    await lading?.stop();
    await rm(storage, { recursive: true, force: true });
  });

  for (const [attempt, delayMs] of [[1, 300], [2, 900], [3, 1700]] as const) {
    it(`leaves whole blobs, valid links and resolvable tags (kill ${attempt}, after ${delayMs} ms)`, async () => {
      lading = await startLading(storage);
      const running = load(lading.url, 8);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      process.kill(lading.process.pid!, "SIGKILL");
      await lading.stop();
      lading = undefined;
      await running;

      // What the kill interrupted may stand in scratch space (.lading-tmp, outside docker/registry/v2)
      // or as a temporary file beside the file it was to replace; nothing else may be torn.
      assert.deepEqual(await storageProblems(storage, "anywhere"), []);

      const restarted = await startLading(storage);
      try {
        const checked = await checkReachable(restarted.url);
        assert.ok(attempt === 1 || checked > 0, "some images were pushed before the kill");
        // The registry keeps working on the same store after the crash.
        await pushImage(restarted.url, 1000 + attempt);
        assert.ok((await checkReachable(restarted.url)) > 0);
      } finally {
        await restarted.stop();
      }
      // The restart's replay used up every temporary file but those of upload sessions (which
      // upload purging removes with their session).
      assert.deepEqual(await storageProblems(storage, "uploads"), []);
    });
  }
});
