import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { toRegistryError } from "../../src/server/errors.js";
import { StorageUnavailableError } from "../../src/storage/driver.js";
import { FilesystemDriver, journalDir } from "../../src/storage/fs/filesystem.js";
import { decodeRecords, encodeRecord, Journal, type JournalOp } from "../../src/storage/fs/journal.js";

const record = (ops: JournalOp[]) => Buffer.concat(encodeRecord(ops));
const put = (path: string, text: string): JournalOp => ({ op: "put", path, content: Buffer.from(text) });

/** Writes a journal segment by hand, as a run that crashed after committing but before applying would leave it. */
async function leaveSegment(root: string, seq: number, data: Buffer): Promise<void> {
  await mkdir(join(root, journalDir), { recursive: true });
  await writeFile(join(root, journalDir, `${String(seq).padStart(16, "0")}.log`), data);
}

const segments = async (root: string) => (await readdir(join(root, journalDir)).catch(() => [])).filter((n) => n.endsWith(".log"));
const text = async (root: string, path: string) => (await readFile(join(root, path), "utf8"));

describe("journal records", () => {
  it("round-trip puts (empty and binary), moves and deletes", () => {
    const ops: JournalOp[] = [
      put("/a/link", "sha256:abc"),
      { op: "put", path: "/empty", content: Buffer.alloc(0) },
      { op: "put", path: "/bin", content: Buffer.from([0, 255, 10, 13]) },
      { op: "move", source: "/x", dest: "/y/z" },
      { op: "delete", path: "/gone" },
    ];
    const decoded = decodeRecords(Buffer.concat([record(ops), record([put("/b", "2")])]));
    assert.equal(decoded.length, 2);
    assert.deepEqual(
      decoded[0]!.map((o) => (o.op === "put" ? { ...o, content: Buffer.from(o.content) } : o)),
      ops.map((o) => (o.op === "put" ? { ...o, content: Buffer.from(o.content) } : o)),
    );
  });

  it("stop at a torn or corrupt record", () => {
    const first = record([put("/a", "1")]);
    const second = record([put("/b", "2")]);
    for (let cut = 1; cut < second.length; cut++) {
      assert.equal(decodeRecords(Buffer.concat([first, second.subarray(0, cut)])).length, 1, `cut at ${cut}`);
    }
    const flipped = Buffer.from(second);
    flipped[flipped.length - 1]! ^= 1;
    assert.equal(decodeRecords(Buffer.concat([first, flipped, record([put("/c", "3")])])).length, 1);
    assert.equal(decodeRecords(Buffer.alloc(64)).length, 0);
  });
});

describe("filesystem driver journal", () => {
  const roots: string[] = [];
  const fresh = async () => {
    const root = await mkdtemp(join(tmpdir(), "lading-journal-"));
    roots.push(root);
    return root;
  };
  after(() => Promise.all(roots.map((r) => rm(r, { recursive: true, force: true }))));

  it("commits concurrent writes in shared groups (one fdatasync each), all durable and applied", async () => {
    const root = await fresh();
    const driver = new FilesystemDriver(root);
    await driver.putContent("/warm", Buffer.from("w"));
    const before = { ...driver.journalStats };
    await Promise.all(Array.from({ length: 64 }, (_, i) => driver.putContent(`/c/${i}/link`, Buffer.from(String(i)))));
    const records = driver.journalStats.records - before.records;
    const groups = driver.journalStats.groups - before.groups;
    assert.equal(records, 64);
    assert.ok(groups < 16, `${groups} groups for 64 concurrent records`);
    await driver.applied();
    for (let i = 0; i < 64; i++) assert.equal(await text(root, `/c/${i}/link`), String(i));
    await driver.close();
  });

  it("a write resolves once durable, and every read through the driver sees it at once", async () => {
    const root = await fresh();
    const driver = new FilesystemDriver(root);
    for (let round = 0; round < 3; round++) {
      await Promise.all(
        Array.from({ length: 32 }, async (_, i) => {
          const dir = `/r${round}/${i}`;
          await driver.putContent(`${dir}/link`, Buffer.from(`${round}.${i}`));
          assert.equal((await driver.getContent(`${dir}/link`)).toString(), `${round}.${i}`);
          assert.deepEqual(await driver.list(dir), ["link"]);
          assert.equal((await driver.stat(`/r${round}`)).isDir, true);
          await driver.putContent(`${dir}/link`, Buffer.from("second"));
          assert.equal((await driver.getContent(`${dir}/link`)).toString(), "second");
          await driver.delete(dir);
          await assert.rejects(driver.getContent(`${dir}/link`), /not found/);
          await assert.rejects(driver.stat(dir), /not found/);
          await driver.putContent(`${dir}/again`, Buffer.from("back"));
          assert.deepEqual(await driver.list(dir), ["again"]);
        }),
      );
      assert.equal((await driver.list(`/r${round}`)).length, 32);
    }
    await driver.applied();
    assert.equal(await text(root, "/r2/31/again"), "back");
    await driver.close();
  });

  it("a batch is one record, applied in order", async () => {
    const root = await fresh();
    const driver = new FilesystemDriver(root);
    const before = driver.journalStats.records;
    await driver.putContent("/up/data", Buffer.from("blob"));
    await driver.batch([
      { op: "move", source: "/up/data", dest: "/blobs/x/data" },
      put("/links/x/link", "x") as { op: "put"; path: string; content: Uint8Array },
      put("/links/x/link", "x2") as { op: "put"; path: string; content: Uint8Array },
    ]);
    assert.equal(driver.journalStats.records - before, 2);
    await driver.applied();
    assert.equal(await text(root, "/blobs/x/data"), "blob");
    assert.equal(await text(root, "/links/x/link"), "x2");
    await assert.rejects(driver.batch([{ op: "move", source: "/missing", dest: "/m" }]));
    assert.equal(driver.journalStats.records - before, 2, "a batch with a missing source journals nothing");
    await driver.close();
  });

  it("replays records that were committed but never applied, before anything can be read", async () => {
    const root = await fresh();
    await mkdir(join(root, "up"), { recursive: true });
    await writeFile(join(root, "up/data"), "uploaded");
    await writeFile(join(root, "doomed"), "x");
    await leaveSegment(root, 7, Buffer.concat([
      record([put("/r/_manifests/tags/t/index/sha256/a/link", "sha256:a"), put("/r/_manifests/tags/t/current/link", "sha256:a")]),
      record([{ op: "move", source: "/up/data", dest: "/blobs/b/data" }, put("/r/_layers/b/link", "b")]),
      record([{ op: "delete", path: "/doomed" }]),
    ]));
    const driver = new FilesystemDriver(root);
    assert.equal(driver.replayed, 3);
    assert.equal(await text(root, "/r/_manifests/tags/t/current/link"), "sha256:a");
    assert.equal(await text(root, "/blobs/b/data"), "uploaded");
    assert.equal(await text(root, "/r/_layers/b/link"), "b");
    await assert.rejects(readFile(join(root, "doomed")));
    // Replayed, synced, dropped: only the fresh (empty) segment remains, and it goes at close.
    assert.deepEqual(await segments(root), ["0000000000000008.log"]);
    await driver.close();
    assert.deepEqual(await segments(root), []);
  });

  it("ignores a torn last record", async () => {
    const root = await fresh();
    const torn = record([put("/torn", "never acknowledged")]);
    await leaveSegment(root, 1, Buffer.concat([record([put("/whole", "ok")]), torn.subarray(0, torn.length - 3)]));
    const driver = new FilesystemDriver(root);
    assert.equal(driver.replayed, 1);
    assert.equal(await text(root, "/whole"), "ok");
    await assert.rejects(readFile(join(root, "torn")));
    await driver.close();
  });

  it("replays idempotently, in order, across segments and repeated replays", async () => {
    const root = await fresh();
    await mkdir(join(root, "up"), { recursive: true });
    await writeFile(join(root, "up/data"), "once");
    const first = Buffer.concat([
      record([put("/t/current/link", "a"), put("/t/index/a/link", "a")]),
      record([{ op: "delete", path: "/t" }]),
      record([{ op: "move", source: "/up/data", dest: "/blobs/o/data" }]),
    ]);
    const second = record([put("/t/current/link", "b")]);
    await leaveSegment(root, 3, first);
    await leaveSegment(root, 4, second);
    await new FilesystemDriver(root).close();
    const expectState = async () => {
      assert.equal(await text(root, "/t/current/link"), "b");
      await assert.rejects(readFile(join(root, "t/index/a/link")), "the delete was replayed before the later put");
      assert.equal(await text(root, "/blobs/o/data"), "once");
    };
    await expectState();
    // A crash during that replay (before its segments were dropped) replays them again: same result.
    await leaveSegment(root, 3, first);
    await leaveSegment(root, 4, second);
    const again = new FilesystemDriver(root);
    assert.equal(again.replayed, 4);
    await expectState();
    await again.close();
  });

  it("checkpoints by size, dropping the segments it covers, and at close", async () => {
    const root = await fresh();
    const driver = new FilesystemDriver(root, { checkpointBytes: 4096 });
    for (let i = 0; i < 40; i++) await driver.putContent(`/k/${i}`, Buffer.alloc(1000, i));
    // Writes run ahead of checkpoints (each waits for the tree to catch up, then syncs it), and a
    // size reached during one starts no other: at least one, started by size alone.
    for (let i = 0; i < 100 && driver.journalStats.checkpoints === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(driver.journalStats.checkpoints >= 1, `${driver.journalStats.checkpoints} checkpoints`);
    await driver.checkpoint();
    assert.ok((await segments(root)).length <= 1);
    await driver.close();
    assert.deepEqual(await segments(root), []);
    const reopened = new FilesystemDriver(root);
    assert.equal(reopened.replayed, 0);
    for (let i = 0; i < 40; i++) assert.deepEqual(await reopened.getContent(`/k/${i}`), Buffer.alloc(1000, i));
    assert.deepEqual(await reopened.list("/"), ["k"], "the journal is hidden from listings");
    await reopened.close();
  });

  it("checkpoints by age", async () => {
    const root = await fresh();
    const driver = new FilesystemDriver(root, { checkpointMs: 50 });
    await driver.putContent("/aged", Buffer.from("a"));
    for (let i = 0; i < 100 && driver.journalStats.checkpoints === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(driver.journalStats.checkpoints, 1);
    await driver.close();
  });
});

describe("filesystem driver journal: a writer racing a checkpoint", () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "lading-journal-race-"));
  });
  after(() => rm(root, { recursive: true, force: true }));

  it("loses nothing acknowledged while checkpoints run under load", async () => {
    const driver = new FilesystemDriver(root, { checkpointBytes: 2048 });
    const writes = Array.from({ length: 200 }, (_, i) => driver.putContent(`/w/${i % 50}/${i}`, Buffer.from(`v${i}`)));
    const checkpoints = Array.from({ length: 5 }, () => driver.checkpoint());
    await Promise.all([...writes, ...checkpoints]);
    await driver.close();
    const reopened = new FilesystemDriver(root);
    for (let i = 0; i < 200; i++) assert.equal(await text(root, `/w/${i % 50}/${i}`), `v${i}`);
    await reopened.close();
  });
});

describe("journal checkpoints", () => {
  it("drop a segment that a failed checkpoint left, with the next one, never after it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "lading-journal-cp-"));
    try {
      let syncs = 0;
      const syncTree = async () => {
        if (++syncs === 1) throw new Error("sync failed");
      };
      const { journal } = Journal.open({ dir, syncTree, syncTreeSync: () => {} }, () => {});
      await journal.commit([put("/a", "1")], async () => {});
      await assert.rejects(journal.checkpoint(), /sync failed/);
      const left = (await readdir(dir)).sort();
      assert.equal(left.length, 2, "the failed checkpoint keeps the old segment beside the new one");
      await journal.commit([put("/a", "2")], async () => {});
      await journal.checkpoint();
      const now = await readdir(dir);
      assert.equal(now.length, 1);
      assert.ok(now[0]! > left.at(-1)!, "only the newest segment is left");
      await journal.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses every write once a committed record fails to apply (the restart's replay repairs)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "lading-journal-fail-"));
    try {
      const { journal } = Journal.open({ dir, syncTree: async () => {}, syncTreeSync: () => {} }, () => {});
      // Durable, so acknowledged; its application fails afterwards.
      let applying!: Promise<void>;
      await journal.commit([put("/a", "1")], () => (applying = Promise.reject(new Error("ENOSPC"))));
      await assert.rejects(applying, /ENOSPC/);
      await assert.rejects(journal.commit([put("/b", "2")], async () => {}), /no further writes are accepted until a restart/);
      const replayed: JournalOp[][] = [];
      Journal.open({ dir, syncTree: async () => {}, syncTreeSync: () => {} }, (ops) => replayed.push(ops));
      assert.deepEqual(replayed.map((ops) => ops.map((o) => (o.op === "put" ? o.path : o.op))), [["/a"]]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("a filesystem driver whose journal failed", () => {
  it("answers every later write with StorageUnavailableError, which the server sends as 503 UNAVAILABLE", async () => {
    const root = await mkdtemp(join(tmpdir(), "lading-journal-down-"));
    try {
      const driver = new FilesystemDriver(root);
      await driver.putContent("/a", Buffer.from("file"));
      // Committed (so acknowledged), then unappliable (a file stands where its directory would go):
      // the journal stops.
      await driver.putContent("/a/b", Buffer.from("x"));
      await driver.applied();
      const refused = await driver.putContent("/c", Buffer.from("y")).then(
        () => undefined,
        (err: unknown) => err,
      );
      assert.ok(refused instanceof StorageUnavailableError, String(refused));
      const answer = toRegistryError(refused);
      assert.equal(answer.status, 503);
      assert.equal(answer.code, "UNAVAILABLE");
      assert.match(answer.message, /no further writes are accepted until a restart/);
      assert.equal((await driver.getContent("/a")).toString(), "file", "reads still work");
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
