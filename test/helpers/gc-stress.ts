/**
 * A stress run of garbage collection while clients push: skopeo, lading's own client and plain
 * API pushes push, re-tag and delete while a collector runs again and again. Afterwards every tag
 * must name what its last acknowledged push named and pull whole, digests verified.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { CollectReport } from "../../src/registry/gc.js";
import { runLading } from "./lading-cli.js";
import { MANIFEST_ACCEPT } from "./registry-http.js";
import type { Scratch } from "./scratch.js";
import type { Skopeo } from "./skopeo.js";

/** A registry to talk to: `http://host:port` and `host:port`. */
export interface Endpoint {
  readonly url: string;
  readonly host: string;
}

export const sha256 = (data: Buffer) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

/** Uploads raw bytes as a blob with a monolithic POST + PUT; returns its digest. */
export async function uploadBlob(registry: Endpoint, repo: string, data: Buffer): Promise<string> {
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
export async function pullWhole(registry: Endpoint, repo: string, reference: string, reached: Set<string>): Promise<string> {
  const res = await fetch(`${registry.url}/v2/${repo}/manifests/${reference}`, { headers: { Accept: MANIFEST_ACCEPT } });
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, 200, `${repo}:${reference}: ${body.toString()}`);
  const digest = sha256(body);
  if (reference.startsWith("sha256:")) assert.equal(digest, reference);
  reached.add(digest);
  const manifest = JSON.parse(body.toString()) as { manifests?: Array<{ digest: string }>; config?: { digest: string }; layers?: Array<{ digest: string }> };
  for (const child of manifest.manifests ?? []) await pullWhole(registry, repo, child.digest, reached);
  for (const blob of [...(manifest.config ? [manifest.config] : []), ...(manifest.layers ?? [])]) {
    const got = await fetch(`${registry.url}/v2/${repo}/blobs/${blob.digest}`);
    const bytes = Buffer.from(await got.arrayBuffer());
    assert.equal(got.status, 200, `${repo}:${reference} needs ${blob.digest}`);
    assert.equal(sha256(bytes), blob.digest, `${repo}:${reference}: ${blob.digest} must come back whole`);
    reached.add(blob.digest);
  }
  return digest;
}

export interface StressRun {
  skopeo: Skopeo;
  scratch: Scratch;
  /** An OCI layout holding the images `single`, `multi` and `doomed`. */
  layout: string;
  /** Where each client pushes: skopeo, the API pushes, and lading's client (copies). */
  via: { skopeo: Endpoint; api: Endpoint; client: Endpoint };
  /** One collection. */
  collect: () => Promise<CollectReport>;
  ms: number;
}

export interface StressResult {
  /** What each repository's tags must name: a digest, or null once deleted. */
  expected: Map<string, Map<string, string | null>>;
  reports: CollectReport[];
  /** Pushes refused because the collector took a blob they named (MANIFEST_BLOB_UNKNOWN). */
  failedCleanly: number;
}

export async function stress(run: StressRun): Promise<StressResult> {
  const { skopeo, scratch, layout, via } = run;
  const until = Date.now() + run.ms;
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
        await skopeo.delete(`docker://${via.skopeo.host}/stress/skopeo@${current}`);
        deleted("stress/skopeo", current);
        continue;
      }
      const digestFile = scratch.path(`stress-digest-${n++}`);
      try {
        await skopeo.copy(`oci:${layout}:${pick(["single", "multi", "doomed"])}`, `docker://${via.skopeo.host}/stress/skopeo:${tag}`, ["--digestfile", digestFile]);
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
    const server = via.api;
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
    const server = via.client;
    while (Date.now() < until) {
      const source = pick(["stress/skopeo", "stress/api"]);
      const tag = pick(tagsOf);
      const target = `stress/copied:${source.split("/")[1]}-${tag}`;
      const { code, stdout, stderr } = await runLading(["copy", "--json", `${server.host}/${source}:${tag}`, `${server.host}/${target}`]);
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
    while (Date.now() < until) reports.push(await run.collect());
  };

  await Promise.all([skopeoWorker(), apiWorker(), clientWorker(), gcWorker()]);
  return { expected, reports, failedCleanly };
}

/** Every tag of a stress run checked through `registry`: deleted ones are gone, the others pull whole. The digests they reach. */
export async function verifyStress(registry: Endpoint, expected: StressResult["expected"]): Promise<Set<string>> {
  const reached = new Set<string>();
  for (const [repo, tags] of expected) {
    for (const [tag, digest] of tags) {
      if (digest === null) {
        const head = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, { method: "HEAD", headers: { Accept: MANIFEST_ACCEPT } });
        assert.equal(head.status, 404, `${repo}:${tag} was deleted`);
        continue;
      }
      assert.equal(await pullWhole(registry, repo, tag, reached), digest, `${repo}:${tag}`);
    }
  }
  return reached;
}
