import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { storageProblems } from "../api/storage-check.js";
import { startLading, type RunningRegistry } from "../helpers/registries.js";
import { Scratch } from "../helpers/scratch.js";
import { image, modes, ociManifest, pullWhole, push, pushBlobs, putManifest, send, sha256, upload, type Answer, type Image } from "../helpers/raw-push.js";
import { Tmpfs } from "../helpers/tmpfs.js";
import { toRegistryError } from "../../src/server/errors.js";
import { PathNotFoundError, StorageFullError } from "../../src/storage/driver.js";
import { Applier } from "../../src/storage/fs/applier.js";
import { FilesystemDriver } from "../../src/storage/fs/filesystem.js";
import { decodeRecords, Journal, type JournalOp } from "../../src/storage/fs/journal.js";

/*
 * A full disk under the filesystem store, on a tmpfs each part mounts (and unmounts) itself: first
 * the driver and its journal, one fix each; then lading serving from it. A write that finds no room
 * fails with 507 Insufficient Storage (UNAVAILABLE in the errors envelope) and keeps nothing; reads
 * go on; writes resume once space is freed, without a restart. A write acknowledged once journaled
 * whose application then finds no room (here: no inode left, which the journal's check of free
 * bytes does not see) is never lost: it is applied once there is room, or by the next start's replay.
 */

const KiB = 1024;
const MiB = 1024 * KiB;
const put = (path: string, content: Buffer | string): JournalOp => ({ op: "put", path, content: Buffer.from(content) });

/** The paths of the records the journal segments in `dir` hold, in order: what a replay would apply. */
function journaledPaths(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith(".log"))
    .sort()
    .flatMap((name) => decodeRecords(readFileSync(join(dir, name))).flatMap((ops) => ops.map((o) => (o.op === "move" ? o.dest : o.path))));
}

/** Waits until `check` holds, trying for at most `tries` tenths of a second. */
async function eventually(what: string, check: () => Promise<boolean>, tries = 300): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${what}: still not so`);
}

const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (err: unknown) => err);

describe("the filesystem driver on a full disk", { timeout: 120_000 }, () => {
  let scratch: Scratch;
  let disk: Tmpfs | undefined;
  before(async () => {
    scratch = await Scratch.create("full-disk-driver");
    disk = await Tmpfs.mount(scratch.path("disk"), { bytes: 8 * MiB, inodes: 300 });
  });
  after(async () => {
    try {
      await disk?.unmount();
    } finally {
      await scratch.cleanup();
    }
  });

  /** A fresh directory on the disk for one test, removed with what it holds when the test is done. */
  async function fresh(name: string, test: (root: string) => Promise<void>): Promise<void> {
    const root = disk!.path(name);
    try {
      await test(root);
    } finally {
      await disk!.releaseAll();
      await rm(root, { recursive: true, force: true });
    }
  }

  /** A driver on `root` holding /a/link ("a"), applied: the tests start from a quiet tree. */
  async function quietDriver(root: string, warn?: (message: string) => void): Promise<FilesystemDriver> {
    const driver = new FilesystemDriver(root, { directio: false, warn });
    await driver.putContent("/a/link", Buffer.from("a"));
    await driver.applied();
    return driver;
  }

  const openJournal = (dir: string) => Journal.open({ dir, syncTree: async () => {}, syncTreeSync: () => {} }, () => {}).journal;

  it("journals no write the tree has no room for (507), and takes writes again once space is freed", () =>
    fresh("refused", async (root) => {
      // The journal's last block has room left: the record would fit there, its application would not.
      const driver = await quietDriver(root);
      const filler = disk!.fillBytes();
      const refused = await failure(driver.putContent("/b/link", Buffer.alloc(100, 1)));
      assert.ok(refused instanceof StorageFullError, `refused with ${String(refused)}`);
      const answer = toRegistryError(refused);
      assert.deepEqual([answer.status, answer.code], [507, "UNAVAILABLE"]);
      assert.match(answer.message, /storage is full/);
      await driver.applied();
      await assert.rejects(driver.getContent("/b/link"), PathNotFoundError);
      assert.equal((await driver.getContent("/a/link")).toString(), "a", "reads go on");
      await disk!.release(filler);
      await driver.putContent("/b/link", Buffer.alloc(100, 2));
      assert.deepEqual(await driver.getContent("/b/link"), Buffer.alloc(100, 2));
      await driver.close();
    }));

  it("cuts a journal write that found no room off its segment, and goes on", () =>
    fresh("journal", async (dir) => {
      // No `space`: nothing is refused before it is written, so the write itself meets the full disk.
      const journal = openJournal(dir);
      await journal.commit([put("/a", "1")], async () => {});
      const filler = disk!.fillBytes();
      const refused = await failure(journal.commit([put("/b", Buffer.alloc(16 * KiB, 1))], async () => {}));
      assert.equal((refused as { code?: string } | undefined)?.code, "ENOSPC", `refused with ${String(refused)}`);
      await disk!.release(filler);
      await journal.commit([put("/c", "3")], async () => {});
      assert.deepEqual(journaledPaths(dir), ["/a", "/c"], "the refused record is gone, the later one follows the earlier");
      await journal.close();
    }));

  it("keeps a segment whose record failed to apply through a checkpoint that waited for it", () =>
    fresh("checkpoint", async (dir) => {
      const journal = openJournal(dir);
      let fail!: (err: Error) => void;
      // Acknowledged once durable; its application is still running when the checkpoint starts.
      await journal.commit([put("/a", "1")], () => new Promise<void>((_, reject) => (fail = reject)));
      const checkpoint = journal.checkpoint();
      fail(Object.assign(new Error("no space left on device"), { code: "ENOSPC" }));
      await assert.rejects(checkpoint);
      assert.deepEqual(journaledPaths(dir), ["/a"], "the replay still has the acknowledged write");
      await journal.close();
      assert.deepEqual(journaledPaths(dir), ["/a"]);
    }));

  it("removes what a put that found no room had written", () =>
    fresh("partial", async (root) => {
      const driver = await quietDriver(root);
      const filler = disk!.fillBytes();
      truncateSync(filler, statSync(filler).size - 16 * KiB);
      const before = await disk!.used();
      // Unjournaled, so written straight to the tree, where it fills the disk part way.
      const refused = await failure(driver.capabilities.lossy!.putContent("/big", Buffer.alloc(64 * KiB, 1)));
      assert.ok(refused instanceof StorageFullError, `refused with ${String(refused)}`);
      assert.deepEqual((await readdir(root)).filter((n) => n.includes("big")), [], "no temporary file is left");
      assert.equal(await disk!.used(), before, "the space is given back");
      await disk!.release(filler);
      await driver.close();
    }));

  it("keeps a write whose application finds no inode: reads of it fail at once, writes are refused, and it is applied once one is freed", () =>
    fresh("stalled", async (root) => {
      const warnings: string[] = [];
      const driver = await quietDriver(root, (m) => warnings.push(m));
      const filler = disk!.fillInodes();
      await driver.putContent("/new/link", Buffer.from("new"));
      // Not there yet, and not to be denied: the read fails (rather than wait for the disk or say "not found").
      const early = await failure(driver.getContent("/new/link"));
      assert.ok(early instanceof StorageFullError, `the read answered ${String(early)}`);
      assert.equal((await driver.getContent("/a/link")).toString(), "a", "other reads go on");
      assert.ok((await failure(driver.putContent("/other", Buffer.from("x")))) instanceof StorageFullError, "a journaled write is refused");
      assert.ok((await failure(driver.capabilities.lossy!.putContent("/other", Buffer.from("x")))) instanceof StorageFullError, "so is an unjournaled one");
      await disk!.release(filler);
      await driver.applied();
      assert.equal((await driver.getContent("/new/link")).toString(), "new");
      await driver.putContent("/other", Buffer.from("x"));
      assert.equal((await driver.getContent("/other")).toString(), "x", "writes resume without a restart");
      assert.ok(warnings.some((w) => /no room/.test(w)) && warnings.some((w) => /goes on/.test(w)), warnings.join("\n"));
      await driver.close();
    }));

  it("applies nothing after a journaled write that waits for an inode, and all of it in order once one is freed", () =>
    fresh("ordered", async (root) => {
      const applier = new Applier({ root, scratch: join(root, ".lading-tmp"), nice: 0 });
      await applier.apply([{ op: "put", path: "/victim", content: Buffer.from("v") }]);
      // Where the journal would hold the put's content; off the full disk.
      const segment = scratch.path("segment.log");
      writeFileSync(segment, "new");
      const filler = disk!.fillInodes();
      // Handed over in one turn: one batch for the worker. The delete needs no inode; it must wait anyway.
      const applying = applier.apply([put("/new/link", "new")], { segment, offsets: [0] });
      const deleted = applier.apply([{ op: "delete", path: "/victim" }], { segment, offsets: [] });
      await eventually("the put waits for an inode", async () => applier.stalled !== undefined);
      assert.ok(existsSync(join(root, "victim")), "the delete after it is not applied first");
      await disk!.release(filler);
      await Promise.all([applying, deleted]);
      assert.equal(readFileSync(join(root, "new/link"), "utf8"), "new");
      assert.equal(existsSync(join(root, "victim")), false);
      await applier.close();
    }));

  it("closes without waiting for an inode, leaving the write to the next start's replay", () =>
    fresh("closed", async (root) => {
      const driver = await quietDriver(root);
      const filler = disk!.fillInodes();
      await driver.putContent("/kept/link", Buffer.from("kept"));
      await assert.rejects(driver.getContent("/kept/link"), StorageFullError);
      await driver.close();
      await disk!.release(filler);
      const again = new FilesystemDriver(root, { directio: false });
      assert.equal((await again.getContent("/kept/link")).toString(), "kept");
      await again.close();
    }));
});

/** A 507 in the errors envelope, saying the storage is full. */
function assertStorageFull(res: Answer, what: string): void {
  assert.equal(res.status, 507, `${what}: ${res.status} ${res.body.toString()}`);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/, what);
  const { errors } = JSON.parse(res.body.toString()) as { errors: Array<{ code: string; message: string }> };
  assert.equal(errors[0]?.code, "UNAVAILABLE", what);
  assert.match(errors[0]!.message, /storage is full/, what);
}

async function getJson<T>(url: string): Promise<T> {
  const res = await send(url);
  assert.equal(res.status, 200, `GET ${url}: ${res.status} ${res.body.toString()}`);
  return JSON.parse(res.body.toString()) as T;
}

describe("lading on a full disk", { timeout: 600_000 }, () => {
  let scratch: Scratch;
  let disk: Tmpfs | undefined;
  let lading: RunningRegistry | undefined;
  let store: string;
  let url: string;
  /** Images whose manifest PUT was answered 201, and those answered 507. */
  const acknowledged: Image[] = [];
  const refused: Image[] = [];

  before(async () => {
    scratch = await Scratch.create("full-disk");
    disk = await Tmpfs.mount(scratch.path("disk"), { bytes: 24 * MiB, inodes: 4000 });
    store = disk.path("store");
    lading = await startLading(store);
    url = lading.url;
  });
  after(async () => {
    try {
      await lading?.stop();
      await disk?.unmount();
    } finally {
      await scratch.cleanup();
    }
  });

  const v2 = () => join(store, "docker/registry/v2");
  /** Upload sessions left in any repository. */
  const sessionsLeft = async () => (await readdir(join(v2(), "repositories"), { recursive: true })).filter((p) => /(^|\/)_uploads\/[^/]+/.test(p));
  const blobStored = (digest: string) => existsSync(join(v2(), "blobs/sha256", digest.slice(7, 9), digest.slice(7)));

  it("takes pushes while there is room", async () => {
    for (const [img, mode] of [
      [image("full/a", "v1", [200 * KiB, 30 * KiB]), "monolithic"],
      [image("full/b", "v1", [300 * KiB, MiB]), "chunked"],
      [image("full/a", "v2", [2 * MiB]), "streamed"],
    ] as const) {
      await push(url, img, mode);
      acknowledged.push(img);
    }
    for (const img of acknowledged) await pullWhole(url, img);
  });

  it("refuses uploads bigger than the free space with 507, keeping nothing of them", async () => {
    for (const mode of modes) {
      const before = await disk!.used();
      const blob = randomBytes((await disk!.free()).bytes + 4 * MiB);
      assertStorageFull(await upload(url, "full/a", blob, mode), `${mode} upload`);
      assert.deepEqual(await sessionsLeft(), [], `${mode}: no upload session is left`);
      assert.equal(blobStored(sha256(blob)), false, `${mode}: no blob`);
      assert.equal((await send(`${url}/v2/full/a/blobs/${sha256(blob)}`, { method: "HEAD" })).status, 404);
      const used = await disk!.used();
      assert.ok(used <= before, `${mode}: ${used} bytes in use after, ${before} before`);
    }
    assert.deepEqual(await storageProblems(store), []);
  });

  let filler: string | undefined;

  it("refuses a manifest PUT with no byte free, showing no part of it", async () => {
    const img = image("full/b", "refused", [40 * KiB]);
    await pushBlobs(url, img);
    filler = disk!.fillBytes();
    assert.equal((await disk!.free()).bytes, 0);
    assertStorageFull(await putManifest(url, img), "manifest PUT");
    refused.push(img);
    for (const ref of [img.tag, img.digest]) {
      assert.equal((await send(`${url}/v2/full/b/manifests/${ref}`, { headers: { Accept: ociManifest } })).status, 404, `GET ${ref}`);
    }
    assert.deepEqual((await getJson<{ tags: string[] }>(`${url}/v2/full/b/tags/list`)).tags, ["v1"]);
    const repo = join(v2(), "repositories/full/b/_manifests");
    assert.equal(existsSync(join(repo, "tags", img.tag)), false, "no tag directory");
    assert.equal(existsSync(join(repo, "revisions/sha256", img.digest.slice(7))), false, "no revision");
    assert.equal(blobStored(img.digest), false, "no manifest blob");
    // A blob small enough to go through the journal is refused as well.
    const small = randomBytes(KiB);
    assertStorageFull(await upload(url, "full/b", small, "monolithic"), "small blob upload");
    assert.equal(blobStored(sha256(small)), false);
  });

  it("serves blobs, manifests, tag lists and the catalog while full", async () => {
    assert.equal((await disk!.free()).bytes, 0);
    for (const img of acknowledged) await pullWhole(url, img);
    assert.deepEqual((await getJson<{ tags: string[] }>(`${url}/v2/full/a/tags/list`)).tags, ["v1", "v2"]);
    assert.deepEqual((await getJson<{ repositories: string[] }>(`${url}/v2/_catalog`)).repositories, ["full/a", "full/b"]);
    // /healthz says so: a probe's write finds no room.
    const health = await send(`${url}/healthz`);
    assert.equal(health.status, 503);
    assert.match((JSON.parse(health.body.toString()) as { error: string }).error, /^storage is full: /);
    assert.equal((await disk!.free()).bytes, 0, "still full");
  });

  it("takes writes again once the filler is removed, without a restart", async () => {
    const pid = lading!.process.pid;
    await disk!.release(filler!);
    for (const mode of modes) {
      const img = image("full/c", mode, [100 * KiB, 3 * MiB]);
      await push(url, img, mode);
      acknowledged.push(img);
      await pullWhole(url, img);
    }
    assert.equal(lading!.process.pid, pid);
    assert.equal(lading!.process.exitedWith, undefined);
    // Healthy again once its last probe's answer (reused for 2 s) has aged.
    let health = await send(`${url}/healthz`);
    for (let tries = 0; health.status !== 200 && tries < 50; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      health = await send(`${url}/healthz`);
    }
    assert.equal(health.status, 200);
  });

  /**
   * Pushes an image whose manifest PUT finds no inode left: the journal has room for it (free
   * bytes), so it is acknowledged, and the tree cannot take it yet. Returns the inode filler.
   */
  async function acknowledgedWithoutInode(img: Image): Promise<string> {
    await pushBlobs(url, img);
    const inodes = disk!.fillInodes();
    const res = await putManifest(url, img);
    assert.equal(res.status, 201, `PUT: ${res.status} ${res.body.toString()}`);
    acknowledged.push(img);
    return inodes;
  }

  /** Stops lading by its PID and checks that it closed (no kill after a grace period). */
  async function stopGracefully(): Promise<void> {
    await lading!.stop();
    assert.equal(lading!.process.exitedWith, "exit code 0", "a graceful stop, not a kill after waiting");
    lading = undefined;
  }

  it("keeps a manifest acknowledged while the tree has no inode for it, and applies it once one is freed", async () => {
    const img = image("full/d", "late", [20 * KiB]);
    const inodes = await acknowledgedWithoutInode(img);
    // A read of it never denies it: it serves it whole (what the registry knows) or says the storage is full.
    const early = await send(`${url}/v2/full/d/manifests/late`, { headers: { Accept: ociManifest } });
    if (early.status === 200) assert.ok(early.body.equals(img.manifest));
    else assertStorageFull(early, "GET of the waiting manifest");
    const list = await send(`${url}/v2/full/d/tags/list`);
    if (list.status === 200) assert.deepEqual((JSON.parse(list.body.toString()) as { tags: string[] }).tags, ["late"]);
    else assertStorageFull(list, "tag list of the waiting manifest");
    await pullWhole(url, acknowledged[0]!);
    assertStorageFull(await upload(url, "full/d", randomBytes(KiB), "monolithic"), "a write while one waits");
    await disk!.release(inodes);
    await eventually("the waiting manifest is applied", async () => (await send(`${url}/v2/full/d/tags/list`)).status === 200);
    await pullWhole(url, img);
    const next = image("full/d", "next", [10 * KiB]);
    await push(url, next);
    acknowledged.push(next);
  });

  it("stops without waiting for an inode, and the restart applies what was acknowledged", async () => {
    const img = image("full/e", "waiting", [20 * KiB]);
    const inodes = await acknowledgedWithoutInode(img);
    await stopGracefully();
    await disk!.release(inodes);
    lading = await startLading(store);
    url = lading.url;
    await pullWhole(url, img);
  });

  it("restarts on a consistent store serving every acknowledged image whole, and nothing refused", async () => {
    await stopGracefully();
    assert.deepEqual(await storageProblems(store), []);
    assert.deepEqual(await sessionsLeft(), []);
    lading = await startLading(store);
    url = lading.url;
    for (const img of acknowledged) await pullWhole(url, img);
    for (const img of refused) {
      assert.equal((await send(`${url}/v2/${img.repo}/manifests/${img.digest}`, { headers: { Accept: ociManifest } })).status, 404);
    }
    const repos = [...new Set(acknowledged.map((i) => i.repo))].sort();
    assert.deepEqual((await getJson<{ repositories: string[] }>(`${url}/v2/_catalog`)).repositories, repos);
    for (const repo of repos) {
      const tags = acknowledged.filter((i) => i.repo === repo).map((i) => i.tag).sort();
      assert.deepEqual((await getJson<{ tags: string[] }>(`${url}/v2/${repo}/tags/list`)).tags, tags, repo);
    }
  });
});
