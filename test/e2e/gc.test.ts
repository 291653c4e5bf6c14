/**
 * Garbage collection against real clients and the reference: a store written by docker-registry,
 * collected by lading (through `lading gc`, which the running server carries out), then served and
 * checked by docker-registry and its own collector; and a stress run where skopeo, lading's own
 * client and plain API pushes push, re-tag and delete while `lading gc` runs again and again.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { CollectReport } from "../../src/registry/gc.js";
import { requireTools } from "../helpers/exec.js";
import { archImage, bigImage, multiLayer, singleLayer } from "../helpers/fixtures.js";
import { ImageSet } from "../helpers/image-set.js";
import { dockerRegistryGarbageCollect, type RunningRegistry } from "../helpers/registries.js";
import { buildLayout, Fleet } from "../helpers/fleet.js";
import { getBlob, headManifest, MANIFEST_ACCEPT } from "../helpers/registry-http.js";
import { runLading } from "../helpers/lading-cli.js";
import { Scratch } from "../helpers/scratch.js";
import { withServerLogs } from "../helpers/server-process.js";
import { Skopeo } from "../helpers/skopeo.js";
import type { ImageSpec } from "../helpers/umoci.js";

requireTools("docker-registry", "skopeo", "umoci");

const lading = runLading;

async function gc(storage: string, ...flags: string[]): Promise<CollectReport> {
  const { code, stdout, stderr } = await lading(["gc", "--storage", storage, "--json", ...flags]);
  assert.equal(code, 0, `lading gc failed: ${stderr}${stdout}`);
  return JSON.parse(stdout) as CollectReport;
}

const sha256 = (data: Buffer) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

/** Uploads raw bytes as a blob with a monolithic POST + PUT; returns its digest. */
async function uploadBlob(registry: RunningRegistry, repo: string, data: Buffer): Promise<string> {
  const started = await fetch(`${registry.url}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  assert.equal(started.status, 202, await started.text());
  const location = new URL(started.headers.get("location")!, registry.url);
  const digest = sha256(data);
  location.searchParams.set("digest", digest);
  const put = await fetch(location, { method: "PUT", body: data, headers: { "Content-Type": "application/octet-stream" } });
  assert.equal(put.status, 201, await put.text());
  return digest;
}

/**
 * Every blob and manifest a tag reaches, fetched and checked against its digest; the digests
 * reached are added to `reached`. Fails on anything missing or corrupt.
 */
async function pullWhole(registry: RunningRegistry, repo: string, reference: string, reached: Set<string>): Promise<string> {
  const res = await fetch(`${registry.url}/v2/${repo}/manifests/${reference}`, { headers: { Accept: MANIFEST_ACCEPT } });
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, 200, `${repo}:${reference}: ${body.toString()}`);
  const digest = sha256(body);
  if (reference.startsWith("sha256:")) assert.equal(digest, reference);
  reached.add(digest);
  const manifest = JSON.parse(body.toString()) as { manifests?: Array<{ digest: string }>; config?: { digest: string }; layers?: Array<{ digest: string }> };
  for (const child of manifest.manifests ?? []) await pullWhole(registry, repo, child.digest, reached);
  for (const blob of [...(manifest.config ? [manifest.config] : []), ...(manifest.layers ?? [])]) {
    const got = await getBlob(registry, repo, blob.digest);
    assert.equal(got.status, 200, `${repo}:${reference} needs ${blob.digest}`);
    assert.equal(sha256(got.body), blob.digest, `${repo}:${reference}: ${blob.digest} must come back whole`);
    reached.add(blob.digest);
  }
  return digest;
}

/** The digests of every blob in a filesystem store's tree. */
async function blobsInTree(storage: string): Promise<Set<string>> {
  const root = join(storage, "docker/registry/v2/blobs/sha256");
  const found = new Set<string>();
  for (const prefix of await readdir(root).catch(() => [])) for (const hex of await readdir(join(root, prefix))) found.add(`sha256:${hex}`);
  return found;
}

describe("garbage collection with real clients and the reference", { timeout: 300_000 }, () => {
  let scratch: Scratch;
  let skopeo: Skopeo;
  let src: string;
  let children = new Map<string, ImageSpec>();
  const fleet = new Fleet(() => scratch);
  const doomedSpec = bigImage(1);

  before(async () => {
    scratch = await Scratch.create("e2e-gc");
    skopeo = await Skopeo.create(scratch);
    src = scratch.path("src");
    children = await buildLayout(src, await scratch.dir("work"), { single: singleLayer, multi: multiLayer, amd64: archImage("amd64"), arm64: archImage("arm64"), doomed: doomedSpec });
  });
  after(async () => {
    await fleet.stopAll();
    await scratch?.cleanup();
  });

  const test = (name: string, body: () => Promise<void>) => it(name, withServerLogs(() => fleet.running.map((r) => r.process), body));
  const start = (kind: "lading" | "docker-registry", storage: string) => fleet.start(kind, storage);
  const stop = (r: RunningRegistry) => fleet.stop(r);

  test("lading collects a store docker-registry wrote; docker-registry then serves it and its collector finds nothing left", async () => {
    const store = await scratch.dir("interop-store");
    const writer = await start("docker-registry", store);
    const set = new ImageSet(skopeo, scratch, src);
    await set.push(writer, "single", "gc/single:1", singleLayer);
    await set.push(writer, "multi", "gc/team/multi:1", multiLayer);
    await set.pushIndex(writer, "multiarch", "gc/multiarch:1", children);
    const doomed = await set.push(writer, "doomed", "gc/doomed:1", doomedSpec);
    await skopeo.delete(`docker://${writer.host}/gc/doomed:1`);
    set.forget("gc/doomed:1");
    const raw = await uploadBlob(writer, "gc/single", randomBytes(4096));
    await stop(writer);

    const server = await start("lading", store);
    const dry = await gc(store, "--grace", "0s", "--dry-run");
    const report = await gc(store, "--grace", "0s");
    assert.equal(dry.dryRun, true);
    assert.deepEqual(dry.deletedBlobs.map((b) => b.digest).sort(), report.deletedBlobs.map((b) => b.digest).sort(), "the dry run names what the run deletes");
    const deleted = new Set(report.deletedBlobs.map((b) => b.digest));
    assert.ok(deleted.has(raw), "the raw blob nothing references");
    assert.ok(deleted.has(doomed.digest), "the deleted image's manifest");
    assert.equal(report.blobs.deleted, 4, "the deleted image's manifest, config and layer, and the raw blob");
    assert.deepEqual(report.problems, []);
    await set.verify(server);
    assert.equal((await getBlob(server, "gc/single", raw)).status, 404);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /lading_gc_runs_total\{outcome="ok",dryrun="false"\} 1/);
    assert.match(metrics, /lading_gc_deleted_total\{kind="blob",dryrun="false"\} 4/);
    await stop(server);

    const reader = await start("docker-registry", store);
    await set.verify(reader);
    assert.equal((await headManifest(reader, "gc/doomed", doomed.digest)).status, 404);
    await stop(reader);
    const reference = await dockerRegistryGarbageCollect(store, await scratch.dir("config"));
    assert.match(reference.stdout + reference.stderr, /0 blobs and 0 manifests eligible for deletion/, reference.stdout + reference.stderr);
  });

  test("skopeo, lading's client and API pushes push, re-tag and delete while lading gc runs again and again; every tag left pulls whole", async () => {
    const store = await scratch.dir("stress-store");
    const server = await start("lading", store);
    const until = Date.now() + 20_000;
    /** What each repository's tags must name at the end: a digest, or null once deleted. */
    const expected = new Map<string, Map<string, string | null>>();
    const expect = (repo: string, tag: string, digest: string | null) => {
      if (!expected.has(repo)) expected.set(repo, new Map());
      expected.get(repo)!.set(tag, digest);
    };
    /** A delete by digest removes every tag of the repository on that digest. */
    const deleted = (repo: string, digest: string) => {
      for (const [tag, named] of expected.get(repo) ?? []) if (named === digest) expect(repo, tag, null);
    };
    let failedCleanly = 0;
    const tagsOf = ["a", "b", "c"];
    const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

    const skopeoWorker = async () => {
      let n = 0;
      while (Date.now() < until) {
        const tag = pick(tagsOf);
        const current = expected.get("stress/skopeo")?.get(tag);
        if (current && Math.random() < 0.25) {
          await skopeo.delete(`docker://${server.host}/stress/skopeo@${current}`);
          deleted("stress/skopeo", current);
          continue;
        }
        const digestFile = scratch.path(`stress-digest-${n++}`);
        try {
          await skopeo.copy(`oci:${src}:${pick(["single", "multi", "doomed"])}`, `docker://${server.host}/stress/skopeo:${tag}`, ["--digestfile", digestFile]);
        } catch (err) {
          // A blob the collector took between skopeo's check and its manifest: refused, never half-stored.
          assert.match(String(err), /blob unknown/i);
          failedCleanly++;
          continue;
        }
        expect("stress/skopeo", tag, (await readFile(digestFile, "utf8")).trim());
      }
    };

    // Plain API pushes drawing layers from a small pool, so deleted layers are pushed again.
    const pool = Array.from({ length: 6 }, () => randomBytes(2048));
    const apiWorker = async () => {
      while (Date.now() < until) {
        const tag = pick(tagsOf);
        const current = expected.get("stress/api")?.get(tag);
        if (current && Math.random() < 0.25) {
          const res = await fetch(`${server.url}/v2/stress/api/manifests/${current}`, { method: "DELETE" });
          assert.equal(res.status, 202);
          deleted("stress/api", current);
          continue;
        }
        const layers = [pick(pool), pick(pool)];
        const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, nonce: randomBytes(4).toString("hex") }));
        const manifest = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: "application/vnd.oci.image.manifest.v1+json",
            config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
            layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha256(l), size: l.length })),
          }),
        );
        // As docker does: HEAD each blob, upload what is missing, then the manifest.
        for (const blob of [config, ...layers]) {
          const head = await fetch(`${server.url}/v2/stress/api/blobs/${sha256(blob)}`, { method: "HEAD" });
          if (head.status !== 200) await uploadBlob(server, "stress/api", blob);
        }
        const put = await fetch(`${server.url}/v2/stress/api/manifests/${tag}`, { method: "PUT", body: manifest, headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" } });
        const answer = await put.text();
        if (put.status === 400 && answer.includes("MANIFEST_BLOB_UNKNOWN")) {
          failedCleanly++;
          continue;
        }
        assert.equal(put.status, 201, answer);
        expect("stress/api", tag, sha256(manifest));
      }
    };

    // lading's own client: copies (cross-repository mounts) and re-tags.
    const clientWorker = async () => {
      while (Date.now() < until) {
        const source = pick(["stress/skopeo", "stress/api"]);
        const tag = pick(tagsOf);
        const target = `stress/copied:${source.split("/")[1]}-${tag}`;
        const { code, stdout, stderr } = await lading(["copy", "--json", `${server.host}/${source}:${tag}`, `${server.host}/${target}`]);
        if (code === 0) {
          expect("stress/copied", `${source.split("/")[1]}-${tag}`, (JSON.parse(stdout) as { digest: string }).digest);
          continue;
        }
        // The source tag was deleted meanwhile, or a blob was collected under the copy: refused cleanly.
        assert.match(stderr, /manifest unknown|blob unknown|not found/i, stderr);
        if (/blob unknown/i.test(stderr)) failedCleanly++;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };

    const reports: CollectReport[] = [];
    const gcWorker = async () => {
      while (Date.now() < until) reports.push(await gc(store, "--grace", "0s"));
    };

    await Promise.all([skopeoWorker(), apiWorker(), clientWorker(), gcWorker()]);
    const collected = reports.reduce((n, r) => n + r.blobs.deleted, 0);
    assert.ok(reports.length >= 5, `only ${reports.length} collections ran`);
    assert.ok(collected > 0, "the collections deleted something");
    process.stderr.write(`${reports.length} collections deleted ${collected} blobs; ${failedCleanly} pushes refused cleanly\n`);

    // Every tag names what its last acknowledged push named, and pulls whole.
    const reached = new Set<string>();
    for (const [repo, tags] of expected) {
      for (const [tag, digest] of tags) {
        if (digest === null) {
          assert.equal((await headManifest(server, repo, tag)).status, 404, `${repo}:${tag} was deleted`);
          continue;
        }
        assert.equal(await pullWhole(server, repo, tag, reached), digest, `${repo}:${tag}`);
      }
    }
    // A last collection of everything untagged leaves exactly what the tags reach.
    const last = await gc(store, "--grace", "0s", "--delete-untagged");
    assert.deepEqual(last.problems, []);
    await stop(server);
    assert.deepEqual([...(await blobsInTree(store))].sort(), [...reached].sort(), "the blobs left are exactly those the tags reach");
  });

  test("lading logged no server fault (5xx answer or error entry)", async () => {
    assert.equal(fleet.everyLading.length, 2);
    for (const r of fleet.everyLading) assert.deepEqual(r.process.faults, []);
  });
});
