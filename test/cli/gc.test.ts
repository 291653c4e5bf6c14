import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pushBlob, pushImage, request, startTestServer } from "../api/support.js";
import { runLading } from "../helpers/lading-cli.js";

const run = runLading;

async function blobCount(root: string): Promise<number> {
  const dir = join(root, "docker/registry/v2/blobs/sha256");
  let n = 0;
  for (const prefix of await readdir(dir)) n += (await readdir(join(dir, prefix))).length;
  return n;
}

describe("lading gc", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "lading-gc-cli-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A store with one tagged image, one untagged image and one raw blob nothing references. */
  async function store(name: string): Promise<string> {
    const root = join(dir, name);
    const server = await startTestServer({}, root);
    try {
      // Three images of three blobs each (manifest, config, layer): v0's first two end up untagged.
      await pushImage(server, "app", "v1");
      await pushImage(server, "app", "v0");
      await pushImage(server, "app", "v0");
      const v1 = await request(server, "GET", "/v2/app/manifests/v1", { headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } });
      assert.equal((await request(server, "PUT", "/v2/app/manifests/v0", { body: v1.body, headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" } })).status, 201);
      await pushBlob(server, "app", "nobody references me");
    } finally {
      await server.close();
    }
    return root;
  }

  it("collects a store no server runs on, a dry run first, and reports what went and what stayed", async () => {
    const root = await store("offline");
    const before = await blobCount(root);
    const dry = await run(["gc", "--storage", root, "--grace", "0s", "--dry-run", "--delete-untagged"]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^dry run: nothing deleted; 1 repository in /m);
    assert.match(dry.stdout, /^manifests: would delete 2 untagged, kept 1$/m);
    assert.match(dry.stdout, /^blobs: would delete 7 \(/m);
    assert.equal(await blobCount(root), before);

    const done = await run(["gc", "--storage", root, "--grace", "0s", "--delete-untagged", "--verbose"]);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /^blobs: deleted 7 \(.*\), kept 3: 3 referenced, 0 within the grace period, 0 used during the collection$/m);
    assert.equal((done.stdout.match(/^deleted blob sha256:/gm) ?? []).length, 7);
    assert.equal((done.stdout.match(/^deleted manifest app@sha256:/gm) ?? []).length, 2);
    assert.equal(await blobCount(root), before - 7);

    // The store still serves its tagged image whole.
    const server = await startTestServer({}, root);
    try {
      const manifest = await request(server, "GET", "/v2/app/manifests/v1", { headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } });
      assert.equal(manifest.status, 200);
      const parsed = JSON.parse(manifest.body.toString()) as { config: { digest: string }; layers: Array<{ digest: string }> };
      for (const blob of [parsed.config, ...parsed.layers]) assert.equal((await request(server, "GET", `/v2/app/blobs/${blob.digest}`)).status, 200);
    } finally {
      await server.close();
    }
  });

  it("asks the server that owns the store to collect, with the config's settings, and prints JSON", async () => {
    const root = await store("served");
    const config = join(dir, "served.yml");
    await writeFile(config, `storage:\n  filesystem:\n    rootdirectory: ${root}\nlading:\n  gc:\n    grace: 0s\n    deleteuntagged: true\n`);
    const server = await startTestServer({}, root);
    try {
      const { code, stdout, stderr } = await run(["gc", "--config", config, "--json"]);
      assert.equal(code, 0, stderr);
      const report = JSON.parse(stdout) as { blobs: { deleted: number }; manifests: { deleted: number } };
      assert.equal(report.blobs.deleted, 7);
      assert.equal(report.manifests.deleted, 2);
      // It ran inside the server: the server's metrics counted it.
      const metrics = (await request(server, "GET", "/metrics")).body.toString();
      assert.match(metrics, /lading_gc_deleted_total\{kind="manifest",dryrun="false"\} 2/);
      assert.equal((await request(server, "GET", "/v2/app/manifests/v0", { headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } })).status, 200, "v0 now names v1's manifest");
    } finally {
      await server.close();
    }
  });

  it("collects on the server's schedule (lading.gc), and /metrics shows it", async () => {
    const server = await startTestServer({ "lading.gc.enabled": true, "lading.gc.interval": "300ms", "lading.gc.grace": "0s" });
    try {
      const image = await pushImage(server, "app", "v1");
      assert.equal((await request(server, "DELETE", `/v2/app/manifests/${image.digest}`)).status, 202);
      const layer = image.layers[0]!.digest;
      const deadline = Date.now() + 10_000;
      while ((await request(server, "GET", `/v2/app/blobs/${layer}`)).status !== 404) {
        assert.ok(Date.now() < deadline, "the scheduled collection did not delete the layer within 10 s");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const metrics = (await request(server, "GET", "/metrics")).body.toString();
      assert.match(metrics, /lading_gc_runs_total\{outcome="ok",dryrun="false"\} [1-9]/);
      assert.match(metrics, /lading_gc_freed_bytes_total\{dryrun="false"\} [1-9]/);
    } finally {
      await server.close();
    }
  });

  it("refuses a collection window under 100ms, naming the key", async () => {
    const config = join(dir, "window.yml");
    await writeFile(config, `storage:\n  filesystem:\n    rootdirectory: ${dir}\nlading:\n  gc:\n    window: 10ms\n`);
    const { code, stderr } = await run(["gc", "--config", config]);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /lading\.gc\.window.*at least 100ms/);
  });

  it("refuses bad usage with one line and exit code 2, as JSON with --json", async () => {
    const none = await run(["gc"]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /name the store: --storage DIR, or --config FILE/);
    const grace = await run(["gc", "--storage", dir, "--grace", "soon"]);
    assert.equal(grace.code, 2);
    assert.match(grace.stderr, /--grace soon is not a duration/);
    const json = await run(["gc", "--storage", dir, "--grace", "soon", "--json"]);
    assert.equal(json.code, 2);
    assert.match((JSON.parse(json.stdout) as { error: { message: string } }).error.message, /not a duration/);
  });
});
