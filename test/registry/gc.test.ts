import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { digestOf, parseDigest, type Digest } from "../../src/oci/digest.js";
import { mediaTypes } from "../../src/oci/mediatypes.js";
import { collect, retainedTags, type CollectOptions, type RetentionRule } from "../../src/registry/gc.js";
import { Registry } from "../../src/registry/index.js";
import { isPathNotFound, type StorageDriver } from "../../src/storage/driver.js";
import { createDriver, memoryDriver } from "../../src/storage/index.js";
import { blobsRoot, layerLinkPath, revisionLinkPath, tagCurrentLinkPath } from "../../src/storage/paths.js";
import { blob, stored } from "../helpers/registry-store.js";

const options = { deleteEnabled: true, readOnly: false, maxSize: 4 << 20, requireIndexChildren: true, requireBlobs: true };
const now: CollectOptions = { graceMs: 0 };

function manifestOf(config: Digest, layers: Digest[], extra: Record<string, unknown> = {}): Buffer {
  const descriptor = (d: Digest, mediaType: string) => ({ mediaType, digest: d.value, size: 100 });
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, config: descriptor(config, mediaTypes.ociConfig), layers: layers.map((l) => descriptor(l, mediaTypes.ociLayerGzip)), ...extra }));
}

async function putManifest(registry: Registry, name: string, body: Buffer, tag?: string): Promise<Digest> {
  const reference = tag === undefined ? { digest: parseDigest(digestOf(body))! } : { tag };
  return (await registry.manifests.put(name, reference, body, JSON.parse(body.toString()).mediaType as string, [])).digest;
}

/** An image of a fresh config and the given layers (fresh ones when none), tagged or not. */
async function image(registry: Registry, name: string, tag: string | undefined, layers?: Digest[]): Promise<{ manifest: Digest; config: Digest; layers: Digest[] }> {
  const config = await blob(registry, name);
  const own = layers ?? [await blob(registry, name)];
  return { manifest: await putManifest(registry, name, manifestOf(config, own), tag), config, layers: own };
}

/** Every blob digest under blobs/. */
async function allBlobs(driver: StorageDriver): Promise<string[]> {
  const found: string[] = [];
  for (const alg of await driver.list(blobsRoot).catch(() => [])) {
    for (const prefix of await driver.list(`${blobsRoot}/${alg}`)) for (const hex of await driver.list(`${blobsRoot}/${alg}/${prefix}`)) found.push(`${alg}:${hex}`);
  }
  return found.sort();
}

/** A driver whose chosen operations wait at a gate until the test opens it. */
function gated(driver: StorageDriver, op: "delete" | "list", matches: (path: string) => boolean) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let reached!: () => void;
  const arrived = new Promise<void>((resolve) => (reached = resolve));
  const wrap =
    (original: (path: string, ...rest: unknown[]) => Promise<unknown>) =>
    async (path: string, ...rest: unknown[]): Promise<unknown> => {
      if (matches(path)) {
        reached();
        await gate;
      }
      return original(path, ...rest);
    };
  (driver as unknown as Record<string, unknown>)[op] = wrap(driver[op].bind(driver) as (path: string, ...rest: unknown[]) => Promise<unknown>);
  // A collection deletes without a sync where the driver can: that way is gated too.
  const lossy = driver.capabilities.lossy;
  if (op === "delete" && lossy) (lossy as { delete: unknown }).delete = wrap(lossy.delete.bind(lossy) as (path: string) => Promise<unknown>);
  return { arrived, open };
}

const drivers: Array<[string, () => Promise<{ driver: StorageDriver; done: () => Promise<void> }>]> = [
  ["memory", async () => ({ driver: memoryDriver(), done: async () => {} })],
  [
    "filesystem",
    async () => {
      const root = await mkdtemp(join(tmpdir(), "lading-gc-"));
      const driver = await createDriver({ filesystem: { rootdirectory: root, directio: false } } as Parameters<typeof createDriver>[0]);
      return {
        driver,
        done: async () => {
          await driver.close();
          await rm(root, { recursive: true, force: true });
        },
      };
    },
  ],
];

for (const [kind, open] of drivers) {
  describe(`garbage collection on the ${kind} driver`, () => {
    const withRegistry = (test: (registry: Registry, driver: StorageDriver) => Promise<void>) => async () => {
      const { driver, done } = await open();
      try {
        await test(new Registry(driver, options), driver);
      } finally {
        await done();
      }
    };

    it(
      "deletes the blobs of a deleted manifest and their links, keeps what kept manifests share, and the kept image reads whole",
      withRegistry(async (registry, driver) => {
        const shared = await blob(registry, "app");
        const kept = await image(registry, "app", "v1", [shared]);
        const gone = await image(registry, "app", "v2", [shared, await blob(registry, "app")]);
        await registry.manifests.delete("app", gone.manifest);
        const before = await allBlobs(driver);

        const report = await collect(registry, now);
        assert.equal(report.blobs.deleted, 3, "the deleted manifest's bytes, its config and its own layer");
        assert.deepEqual(report.deletedBlobs.map((b) => b.digest).sort(), [gone.manifest.value, gone.config.value, gone.layers[1]!.value].sort());
        assert.equal(report.blobs.bytesFreed, report.deletedBlobs.reduce((n, b) => n + b.size, 0));
        assert.equal(report.links.deleted, 2, "app's links to the config and the layer");
        assert.equal(report.blobs.reachable, 3);
        assert.deepEqual(await allBlobs(driver), before.filter((d) => !report.deletedBlobs.some((b) => b.digest === d)));
        await assert.rejects(driver.stat(layerLinkPath("app", gone.layers[1]!)), isPathNotFound);
        for (const d of [kept.manifest, kept.config, shared]) assert.ok(await stored(driver, d), `${d.value} stays`);
        const served = await registry.manifests.get("app", { tag: "v1" });
        assert.equal(served.digest.value, kept.manifest.value);
        for (const d of [kept.config, shared]) assert.equal(await registry.blobs.sizeIn("app", d), 100);
        assert.equal(await registry.blobs.sizeIn("app", gone.layers[1]!), undefined, "no cache answers for a deleted blob");
        assert.equal((await collect(registry, now)).blobs.deleted, 0, "a second collection finds nothing");
      }),
    );

    it(
      "with deleteUntagged, deletes untagged manifests but keeps an index's children and referrers of kept manifests",
      withRegistry(async (registry, driver) => {
        const child = await image(registry, "app", undefined);
        const indexBody = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: [{ mediaType: mediaTypes.ociManifest, digest: child.manifest.value, size: 1 }] }));
        const index = await putManifest(registry, "app", indexBody, "multi");
        const tagged = await image(registry, "app", "v1");
        const subject = { mediaType: mediaTypes.ociManifest, digest: tagged.manifest.value, size: 1 };
        const signature = await putManifest(registry, "app", manifestOf(await blob(registry, "app"), [], { subject, artifactType: "application/vnd.example.sig" }));
        const untagged = await image(registry, "app", undefined);
        const orphanSignature = await putManifest(registry, "app", manifestOf(await blob(registry, "app"), [], { subject: { mediaType: mediaTypes.ociManifest, digest: untagged.manifest.value, size: 1 } }));

        const before = await allBlobs(driver);
        const dry = await collect(registry, { ...now, deleteUntagged: true, dryRun: true });
        assert.deepEqual(await allBlobs(driver), before, "a dry run deletes nothing");
        assert.ok(await stored(driver, untagged.manifest));
        const report = await collect(registry, { ...now, deleteUntagged: true });
        assert.deepEqual(report.deletedManifests.sort(), [`app@${untagged.manifest.value}`, `app@${orphanSignature.value}`].sort());
        const comparable = (r: typeof report) => ({ ...r, dryRun: true, startedAt: "", durationMs: 0, deletedManifests: [...r.deletedManifests].sort(), deletedBlobs: [...r.deletedBlobs].sort((x, y) => x.digest.localeCompare(y.digest)) });
        assert.deepEqual(comparable(dry), comparable(report), "the dry run reported what the run did");
        assert.equal(report.blobs.deleted, 5, "the untagged image's manifest, config and layer, the orphan signature and its config");
        assert.equal(report.manifests.kept, 4);
        for (const d of [index, child.manifest, ...child.layers, child.config, tagged.manifest, signature]) assert.ok(await stored(driver, d), `${d.value} stays`);
        for (const d of [untagged.manifest, untagged.config, ...untagged.layers, orphanSignature]) assert.equal(await stored(driver, d), false, `${d.value} goes`);
        await assert.rejects(driver.stat(revisionLinkPath("app", untagged.manifest)), isPathNotFound);
        await assert.rejects(registry.manifests.get("app", { digest: untagged.manifest }), /manifest unknown/);
        assert.equal((await registry.manifests.get("app", { digest: child.manifest })).digest.value, child.manifest.value);
        assert.deepEqual((await registry.manifests.referrers("app", tagged.manifest)).map((d) => d.digest), [signature.value]);
        assert.deepEqual(await registry.manifests.referrers("app", untagged.manifest), []);
      }),
    );

    it(
      "keeps blobs within the grace period, and reports a corrupt link instead of stopping",
      withRegistry(async (registry, driver) => {
        const gone = await image(registry, "app", "v1");
        await registry.manifests.delete("app", gone.manifest);
        const young = await collect(registry, { graceMs: 3_600_000 });
        assert.equal(young.blobs.deleted, 0);
        assert.equal(young.blobs.young, 3);

        const kept = await image(registry, "other", "v1");
        await driver.putContent(revisionLinkPath("other", kept.manifest), Buffer.from("not a digest"));
        await driver.putContent(tagCurrentLinkPath("other", "broken"), Buffer.from(""));
        const report = await collect(registry, { ...now, deleteUntagged: true });
        assert.equal(report.blobs.deleted, 3);
        assert.ok(report.problems.some((p) => p.includes("corrupt link") && p.includes("other/_manifests/revisions")), report.problems.join("\n"));
        assert.ok(report.problems.some((p) => p.includes("empty link") && p.includes("tags/broken")), report.problems.join("\n"));
        for (const d of [kept.manifest, kept.config, ...kept.layers]) assert.ok(await stored(driver, d), `${d.value} stays: its revision is named by its directory`);
      }),
    );

    it(
      "keeps a garbage blob that a manifest put names while the collection runs",
      withRegistry(async (registry, driver) => {
        // An old image deleted: its layer is garbage, but still linked in the repository.
        const old = await image(registry, "app", "v1");
        await registry.manifests.delete("app", old.manifest);
        const paused = gated(driver, "list", (path) => path === blobsRoot);
        const running = collect(registry, now);
        await paused.arrived;
        // The mark is over; the sweep has not begun. A push reuses the garbage layer.
        const reused = await image(registry, "app", "v2", old.layers);
        paused.open();
        const report = await running;
        // The new image's config and manifest are younger than the collection, or used by it.
        assert.equal(report.blobs.inUse + report.blobs.young, 3, JSON.stringify(report));
        assert.deepEqual(report.deletedBlobs.map((b) => b.digest).sort(), [old.manifest.value, old.config.value].sort());
        assert.ok(await stored(driver, old.layers[0]!));
        assert.equal(await registry.blobs.sizeIn("app", old.layers[0]!), 100);
        assert.equal((await registry.manifests.get("app", { tag: "v2" })).digest.value, reused.manifest.value);
        assert.equal((await collect(registry, now)).blobs.deleted, 0, "the next collection sees it referenced");
      }),
    );

    it(
      "fails a manifest put cleanly when the collection took its blob first, and a push afterwards stores it again",
      withRegistry(async (registry, driver) => {
        const old = await image(registry, "app", "v1");
        await registry.manifests.delete("app", old.manifest);
        const layer = old.layers[0]!;
        const paused = gated(driver, "delete", (path) => path.includes(layer.hex) && path.startsWith(blobsRoot));
        const running = collect(registry, now);
        await paused.arrived;
        // The collector has claimed the layer and is deleting it: the put waits, then finds it gone.
        const config = await blob(registry, "app");
        const put = putManifest(registry, "app", manifestOf(config, [layer]), "v2");
        paused.open();
        await assert.rejects(put, (err: { code?: string }) => err.code === "MANIFEST_BLOB_UNKNOWN");
        const report = await running;
        assert.ok(report.deletedBlobs.some((b) => b.digest === layer.value));
        assert.equal(await registry.blobs.size(layer), undefined);
        // The client uploads the layer again, and the push goes through.
        const content = randomBytes(100);
        const again = await blob(registry, "app", content);
        const pushed = await putManifest(registry, "app", manifestOf(config, [again]), "v2");
        assert.equal((await registry.manifests.get("app", { tag: "v2" })).digest.value, pushed.value);
        assert.ok(await stored(driver, again));
      }),
    );

    it(
      "lets writes under way when it starts finish before it marks",
      withRegistry(async (registry, driver) => {
        const config = await blob(registry, "app");
        const layer = await blob(registry, "app");
        // The manifest put is held inside the store's write; the collection starts meanwhile.
        const write = driver.capabilities.batch ? "batch" : "putContent";
        const original = (driver.capabilities.batch ?? driver.putContent).bind(driver) as (...args: unknown[]) => Promise<void>;
        let open!: () => void;
        const gate = new Promise<void>((resolve) => (open = resolve));
        let entered!: () => void;
        const inside = new Promise<void>((resolve) => (entered = resolve));
        const hold = async (...args: unknown[]) => {
          entered();
          await gate;
          return original(...args);
        };
        if (write === "batch") (driver.capabilities as { batch?: unknown }).batch = hold;
        else driver.putContent = hold;
        const put = putManifest(registry, "app", manifestOf(config, [layer]), "v1");
        await inside;
        if (write === "batch") (driver.capabilities as { batch?: unknown }).batch = original;
        else driver.putContent = original as StorageDriver["putContent"];
        const running = collect(registry, now);
        await new Promise((resolve) => setTimeout(resolve, 20));
        open();
        const manifest = await put;
        const report = await running;
        assert.equal(report.blobs.deleted, 0, report.deletedBlobs.map((b) => b.digest).join(", "));
        for (const d of [manifest, config, layer]) assert.ok(await stored(driver, d));
      }),
    );
  });
}

describe("retention rules", () => {
  const hour = 3_600_000;
  const now = 1_000 * hour;
  // Tags pushed 1, 2, ... hours ago: t1 the newest.
  const tags = ["t1", "t2", "t3", "v1.0", "v2.0", "latest"].map((tag, i) => ({ tag, pushed: now - (i + 1) * hour }));
  const rule = (r: Partial<RetentionRule>): RetentionRule => ({ repositories: ["**"], keeptags: [], ...r });
  const cases: Array<[string, RetentionRule, string[], (tag: string) => boolean]> = [
    ["keeplast keeps the most recently pushed", rule({ keeplast: 2 }), ["t1", "t2"], () => false],
    ["keeplast 0 keeps none", rule({ keeplast: 0 }), [], () => false],
    ["keeptags keeps matches however old", rule({ keeplast: 1, keeptags: ["v*", "latest"] }), ["t1", "v1.0", "v2.0", "latest"], () => false],
    ["olderthan keeps the younger", rule({ olderthan: 3.5 * hour }), ["t1", "t2", "t3"], () => false],
    ["keeplast or olderthan, whichever keeps more", rule({ keeplast: 4, olderthan: 1.5 * hour }), ["t1", "t2", "t3", "v1.0"], () => false],
    ["immutable tags are always kept", rule({ keeplast: 1 }), ["t1", "v2.0"], (tag) => tag === "v2.0"],
  ];
  for (const [name, r, kept, immutable] of cases) {
    it(name, () => assert.deepEqual([...retainedTags(r, tags, now, immutable)].sort(), kept.sort()));
  }
  it("breaks ties in push time by name", () => {
    const same = ["b", "a", "c"].map((tag) => ({ tag, pushed: now }));
    assert.deepEqual([...retainedTags(rule({ keeplast: 2 }), same, now, () => false)].sort(), ["a", "b"]);
  });
});

describe("garbage collection with retention rules", () => {
  it("removes the tags a rule does not keep, then the manifests that lost their last tag, in matching repositories only; the dry run says so first", async () => {
    const driver = memoryDriver();
    const registry = new Registry(driver, { ...options, immutableTags: [{ repositories: ["team/**"], tags: ["release-*"] }] });
    const pushed: Record<string, Digest> = {};
    for (const tag of ["old-1", "old-2", "release-1", "keep-me", "new-1", "new-2"]) {
      pushed[tag] = (await image(registry, "team/app", tag)).manifest;
      if (tag === "old-2") {
        // old-2's manifest also carries a second tag the rule keeps: it stays.
        const kept = (await registry.manifests.get("team/app", { tag: "old-2" })).body;
        await putManifest(registry, "team/app", kept, "keep-me-too");
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const other = await image(registry, "other/app", "old-1");
    const retention: RetentionRule[] = [{ repositories: ["team/*"], keeplast: 2, keeptags: ["keep-*"] }];

    const dry = await collect(registry, { ...now, retention, dryRun: true });
    assert.deepEqual(dry.deletedTags.sort(), ["team/app:old-1", "team/app:old-2"]);
    assert.deepEqual(await registry.tags.list("team/app"), ["keep-me", "keep-me-too", "new-1", "new-2", "old-1", "old-2", "release-1"], "a dry run removes no tag");
    const report = await collect(registry, { ...now, retention });
    assert.deepEqual(report.deletedTags.sort(), dry.deletedTags.sort());
    assert.deepEqual(report.deletedManifests, [`team/app@${pushed["old-1"]!.value}`], "only old-1's manifest lost its last tag");
    assert.equal(report.blobs.deleted, 3);
    assert.deepEqual(report.deletedBlobs.map((b) => b.digest).sort(), dry.deletedBlobs.map((b) => b.digest).sort());
    assert.deepEqual(await registry.tags.list("team/app"), ["keep-me", "keep-me-too", "new-1", "new-2", "release-1"]);
    assert.equal((await registry.manifests.get("team/app", { tag: "keep-me-too" })).digest.value, pushed["old-2"]!.value);
    assert.equal((await registry.manifests.get("other/app", { tag: "old-1" })).digest.value, other.manifest.value, "a repository no rule matches keeps every tag");
  });
});

describe("garbage collection refusals", () => {
  it("refuses a second collection while one runs", async () => {
    const driver = memoryDriver();
    const registry = new Registry(driver, options);
    const paused = gated(driver, "list", (path) => path === blobsRoot);
    const first = collect(registry, now);
    await paused.arrived;
    await assert.rejects(collect(registry, now), /already running/);
    paused.open();
    await first;
  });
});
