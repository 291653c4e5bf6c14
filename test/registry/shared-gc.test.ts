import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { digestOf, parseDigest, type Digest } from "../../src/oci/digest.js";
import { mediaTypes } from "../../src/oci/mediatypes.js";
import { RegistryError } from "../../src/oci/errors.js";
import { collect, CollectionRefused, type CollectOptions } from "../../src/registry/gc.js";
import { Registry } from "../../src/registry/index.js";
import { CollectedMeanwhile } from "../../src/registry/shared-collection.js";
import { isPathNotFound, type StorageDriver } from "../../src/storage/driver.js";
import { memoryDriver } from "../../src/storage/index.js";
import { blobDataPath } from "../../src/storage/paths.js";
import { blob, stored } from "../helpers/registry-store.js";

/*
 * Garbage collection of a shared store (shared-collection.ts): replicas and a collector, each a
 * Registry over its own view of one store that no one owns, as on a bucket. Each view can be
 * gated, to put one step of the protocol where a test wants it.
 */

const windowMs = 300;
const options = { deleteEnabled: true, readOnly: false, maxSize: 4 << 20, requireIndexChildren: true, requireBlobs: true, collectionWindowMs: windowMs };
const run: CollectOptions = { graceMs: 0, windowMs };
const opened: Registry[] = [];
after(() => opened.forEach((r) => r.close()));

/** A view of `store` without the exclusive capability, with operations of its own. */
function view(store: StorageDriver): StorageDriver {
  const { exclusive, ...capabilities } = store.capabilities;
  void exclusive;
  return Object.assign(Object.create(store) as StorageDriver, { capabilities });
}

/** `count` replicas (the last one collects) on one fresh store, and their views of it. */
function fleet(count: number): Array<{ registry: Registry; driver: StorageDriver }> {
  const store = memoryDriver();
  return Array.from({ length: count }, () => {
    const driver = view(store);
    const registry = new Registry(driver, options);
    opened.push(registry);
    return { registry, driver };
  });
}

/** Makes `op` of `driver` wait at a gate for paths `matches` accepts, until the test opens it. */
function gate(driver: StorageDriver, op: "putContent" | "list" | "delete", matches: (path: string) => boolean) {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  let reached!: () => void;
  const arrived = new Promise<void>((resolve) => (reached = resolve));
  const original = (driver[op] as (path: string, ...rest: unknown[]) => Promise<unknown>).bind(driver);
  (driver as unknown as Record<string, unknown>)[op] = async (path: string, ...rest: unknown[]) => {
    if (matches(path)) {
      reached();
      await opened;
    }
    return original(path, ...rest);
  };
  return { arrived, open };
}

function manifestOf(config: Digest, layers: Digest[]): Buffer {
  const descriptor = (d: Digest, mediaType: string) => ({ mediaType, digest: d.value, size: 100 });
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, config: descriptor(config, mediaTypes.ociConfig), layers: layers.map((l) => descriptor(l, mediaTypes.ociLayerGzip)) }));
}

async function push(registry: Registry, name: string, tag: string, config: Digest, layers: Digest[]): Promise<Digest> {
  return (await registry.manifests.put(name, { tag }, manifestOf(config, layers), mediaTypes.ociManifest, [])).digest;
}

const blobUnknown = (err: unknown) => err instanceof RegistryError && err.code === "MANIFEST_BLOB_UNKNOWN";

describe("garbage collection of a shared store", () => {
  it("deletes what nothing references while another replica serves; that replica forgets it at once, so a push naming it fails instead of naming a deleted blob", async () => {
    const [a, b, collector] = fleet(3);
    const config = await blob(a!.registry, "app");
    const layer = await blob(a!.registry, "app");
    const kept = await push(a!.registry, "app", "v1", config, [layer]);
    const gone = await blob(a!.registry, "app");
    // Replica b believes the garbage exists (cached for the shared store's existence window, 10 s).
    assert.equal(await b!.registry.blobs.sizeIn("app", gone), 100);

    const report = await collect(collector!.registry, run);
    assert.deepEqual(report.deletedBlobs.map((d) => d.digest), [gone.value]);
    assert.equal(report.blobs.reachable, 3);
    assert.equal(await stored(b!.driver, gone), false);
    await sleep(windowMs / 4); // b reads the state at least once meanwhile
    assert.equal(await b!.registry.blobs.sizeIn("app", gone), undefined, "b no longer believes the deleted blob exists");
    await assert.rejects(push(b!.registry, "app", "v2", config, [gone]), blobUnknown);
    assert.equal((await b!.registry.manifests.get("app", { tag: "v1" })).digest.value, kept.value);
  });

  it("keeps a blob that a push through another replica uses after the mark, before the claims", async () => {
    const [a, collector] = fleet(2);
    const config = await blob(a!.registry, "app");
    const garbage = await blob(a!.registry, "app");
    const claims = gate(collector!.driver, "putContent", (path) => path.endsWith("/claims"));
    const collecting = collect(collector!.registry, run);
    await claims.arrived;
    // The mark is over and did not reach `garbage`; a push names it now, through replica a.
    const pushed = await push(a!.registry, "app", "v1", config, [garbage]);
    claims.open();
    const report = await collecting;
    assert.equal(report.blobs.deleted, 0);
    assert.equal(report.blobs.inUse, 2, "the config and the layer were held by the push");
    assert.ok(await stored(a!.driver, garbage));
    assert.equal((await collector!.registry.manifests.get("app", { tag: "v1" })).digest.value, pushed.value);
  });

  it("makes a push naming a claimed blob wait for the deletion, then fail cleanly; pushed again, it succeeds", async () => {
    const [a, collector] = fleet(2);
    const config = await blob(a!.registry, "app");
    await push(a!.registry, "app", "v1", config, []);
    const garbage = await blob(a!.registry, "app", Buffer.alloc(100, 7));
    const deleting = gate(collector!.driver, "delete", (path) => path.includes(garbage.hex));
    const collecting = collect(collector!.registry, run);
    await deleting.arrived;
    // The holds are read: `garbage` goes. A push naming it through a holds it too late.
    let settled = false;
    const pushing = push(a!.registry, "app", "v2", config, [garbage]).finally(() => (settled = true));
    await sleep(windowMs / 2);
    assert.equal(settled, false, "the push waits while the collection deletes what it names");
    deleting.open();
    const report = await collecting;
    assert.deepEqual(report.deletedBlobs.map((d) => d.digest), [garbage.value]);
    await assert.rejects(pushing, blobUnknown);
    assert.equal(await blob(a!.registry, "app", Buffer.alloc(100, 7)).then((d) => d.value), garbage.value);
    await push(a!.registry, "app", "v2", config, [garbage]);
    assert.ok(await stored(a!.driver, garbage));
  });

  it("fails a write that checked before the collection began and landed after its mark, rather than acknowledge it", async () => {
    const [a, collector] = fleet(2);
    const config = await blob(a!.registry, "app");
    await push(a!.registry, "app", "v1", config, []);
    const garbage = await blob(a!.registry, "app");
    // The push's first visible write (the manifest's bytes) lands late: its checks are done before
    // the collection is announced.
    const manifest = blobDataPath(parseDigest(digestOf(manifestOf(config, [garbage])))!);
    const landing = gate(a!.driver, "putContent", (path) => path === manifest);
    const pushing = push(a!.registry, "app", "late", config, [garbage]);
    await landing.arrived;
    const report = await collect(collector!.registry, run);
    assert.ok(report.deletedBlobs.some((d) => d.digest === garbage.value), "the mark did not see the push");
    landing.open();
    await assert.rejects(pushing, CollectedMeanwhile);
  });

  it("makes a push moving a tag that retention is removing wait until it is removed, then stores it", async () => {
    const [a, collector] = fleet(2);
    for (const tag of ["v1", "v2"]) {
      await push(a!.registry, "app", tag, await blob(a!.registry, "app"), []);
      await sleep(5);
    }
    const removing = gate(collector!.driver, "delete", (path) => path.endsWith("/_manifests/tags/v1"));
    const collecting = collect(collector!.registry, { ...run, retention: [{ repositories: ["**"], keeplast: 1, keeptags: [] }] });
    await removing.arrived;
    // The collector has found v1 still naming what it judged, and is about to remove it.
    const config = await blob(a!.registry, "app");
    let settled = false;
    const pushing = push(a!.registry, "app", "v1", config, []).finally(() => (settled = true));
    await sleep(windowMs / 2);
    assert.equal(settled, false, "the push waits while the collection removes the tag it moves");
    removing.open();
    const report = await collecting;
    assert.deepEqual(report.deletedTags, ["app:v1"]);
    const v1 = await pushing;
    assert.equal((await a!.registry.tags.resolve("app", "v1"))?.value, v1.value, "the push, acknowledged after the removal, is what v1 names");
  });

  it("refuses a second collector while one runs, and takes over the state of one that died", async () => {
    const [a, first, second] = fleet(3);
    await blob(a!.registry, "app");
    const claims = gate(first!.driver, "putContent", (path) => path.endsWith("/claims"));
    const running = collect(first!.registry, run);
    await claims.arrived;
    await assert.rejects(collect(second!.registry, run), (err) => err instanceof CollectionRefused && /another garbage collection is running/.test(err.message));
    claims.open();
    assert.equal((await running).blobs.deleted, 1);

    // A collector that died: its state says collecting, and nothing renews it.
    await a!.driver.putContent("/.lading-gc/state", Buffer.from(JSON.stringify({ generation: 7, phase: "collecting", id: "dead", beat: 3 })));
    await blob(a!.registry, "app");
    const report = await collect(second!.registry, run);
    assert.equal(report.blobs.deleted, 1);
    assert.equal(JSON.parse((await a!.driver.getContent("/.lading-gc/state")).toString()).generation, 8);
  });

  it("reports in a dry run what a run deletes, announcing nothing", async () => {
    const [a, collector] = fleet(2);
    const config = await blob(a!.registry, "app");
    await push(a!.registry, "app", "v1", config, []);
    const garbage = await blob(a!.registry, "app");
    const dry = await collect(collector!.registry, { ...run, dryRun: true });
    await assert.rejects(a!.driver.stat("/.lading-gc/state"), isPathNotFound);
    const real = await collect(collector!.registry, run);
    assert.deepEqual(dry.deletedBlobs, real.deletedBlobs);
    assert.deepEqual(real.deletedBlobs.map((d) => d.digest), [garbage.value]);
  });

  it("applies retention rules, leaving alone a tag that a push through another replica moves meanwhile, and what the tag named", async () => {
    const [a, collector] = fleet(2);
    const images: Record<string, { manifest: Digest; config: Digest }> = {};
    for (const tag of ["v1", "v2", "v3"]) {
      const config = await blob(a!.registry, "app");
      images[tag] = { config, manifest: await push(a!.registry, "app", tag, config, []) };
      await sleep(5); // distinct push times
    }
    const claims = gate(collector!.driver, "putContent", (path) => path.endsWith("/claims"));
    const collecting = collect(collector!.registry, { ...run, retention: [{ repositories: ["**"], keeplast: 1, keeptags: [] }] });
    await claims.arrived;
    // Retention judged v1 and v2 (only the newest tag stays); now v1 is pushed again, to another image.
    const moved = await blob(a!.registry, "app");
    const v1 = await push(a!.registry, "app", "v1", moved, []);
    claims.open();
    const report = await collecting;
    assert.deepEqual(report.deletedTags, ["app:v2"]);
    assert.deepEqual(report.deletedManifests, [`app@${images.v2!.manifest.value}`]);
    assert.equal((await a!.registry.tags.resolve("app", "v1"))?.value, v1.value, "the push moving v1 wins");
    assert.equal(await a!.registry.tags.resolve("app", "v2"), undefined);
    assert.ok(await stored(a!.driver, images.v1!.manifest), "what v1 named when judged stays this time");
    assert.equal(await stored(a!.driver, images.v2!.config), false);
    assert.ok(await stored(a!.driver, moved));
  });
});
