import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, constants, openSync, WriteStream, writeFileSync } from "node:fs";
import { once } from "node:events";
import { mkdtemp, readdir, readFile, readlink, rm, truncate, utimes, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { after, before, describe, it } from "node:test";
import { FilesystemDriver, isTempName, journalDir } from "../../src/storage/fs/filesystem.js";
import { slabs } from "../../src/storage/fs/direct.js";
import { collector, driverSuite } from "./suite.js";

/** Every file under root, as a driver path, including any temporary file the driver hides. */
async function backendFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => !e.isDirectory())
    .map((e) => join(e.parentPath, e.name).slice(root.length))
    .filter((p) => !p.startsWith(`/${journalDir}/`) && p !== "/.lading-owner");
}

driverSuite("filesystem", async () => {
  const root = await mkdtemp(join(tmpdir(), "lading-fs-"));
  const driver = new FilesystemDriver(root);
  return {
    driver,
    cleanup: async () => {
      await driver.close();
      await rm(root, { recursive: true, force: true });
    },
    backendFiles: async () => {
      // The tree as other readers see it: every resolved write applied.
      await driver.applied();
      const files = await backendFiles(root);
      assert.deepEqual(files.filter((f) => f.split("/").some(isTempName)), []);
      return files;
    },
  };
});

describe("filesystem driver ownership", () => {
  it("refuses a root that a live process holds, and takes over one whose holder is gone", async () => {
    const root = await mkdtemp(join(tmpdir(), "lading-fs-owner-"));
    const holder = spawn("sleep", ["60"], { stdio: "ignore" });
    try {
      const holderClaim = { host: hostname(), pidns: await readlink("/proc/self/ns/pid"), pid: holder.pid };
      await writeFile(join(root, ".lading-owner"), JSON.stringify(holderClaim));
      assert.throws(() => new FilesystemDriver(root), new RegExp(`in use: process ${holder.pid} on .* is running`));
      holder.kill("SIGKILL");
      await once(holder, "exit");
      const driver = new FilesystemDriver(root);
      assert.equal(JSON.parse(await readFile(join(root, ".lading-owner"), "utf8")).pid, process.pid);
      await driver.close();
      await assert.rejects(readFile(join(root, ".lading-owner")), { code: "ENOENT" });
    } finally {
      holder.kill("SIGKILL");
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe("filesystem driver ownership across hosts", () => {
  it("takes over a claim from a holder it cannot see once the claim stops being refreshed", async () => {
    const root = await mkdtemp(join(tmpdir(), "lading-fs-owner-"));
    try {
      const claim = join(root, ".lading-owner");
      await writeFile(claim, JSON.stringify({ host: "elsewhere", pidns: "pid:[1]", pid: 1 }));
      const old = new Date(Date.now() - 60_000);
      await utimes(claim, old, old);
      const driver = new FilesystemDriver(root);
      assert.equal(JSON.parse(await readFile(claim, "utf8")).host, hostname());
      await driver.close();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("refuses a claim from a holder it cannot see while the claim is refreshed", async () => {
    const root = await mkdtemp(join(tmpdir(), "lading-fs-owner-"));
    const claim = join(root, ".lading-owner");
    await writeFile(claim, JSON.stringify({ host: "elsewhere", pidns: "pid:[1]", pid: 1 }));
    // The other host's holder refreshes its claim while this process waits to see whether it does.
    const refresher = spawn("sh", ["-c", `while true; do touch '${claim}'; sleep 0.3; done`], { stdio: "ignore" });
    try {
      assert.throws(() => new FilesystemDriver(root), /in use: process 1 on elsewhere refreshes its claim/);
    } finally {
      refresher.kill("SIGKILL");
      await once(refresher, "exit");
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe("filesystem driver specifics", () => {
  let root: string;
  let driver: FilesystemDriver;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "lading-fs-"));
    driver = new FilesystemDriver(root);
  });
  after(async () => {
    await driver.close();
    await rm(root, { recursive: true, force: true });
  });

  const openFds = async () => (await readdir("/proc/self/fd")).length;

  it("maps driver paths under the root", async () => {
    await driver.putContent("/docker/registry/v2/x", Buffer.from("x"));
    await driver.applied();
    assert.deepEqual(await readdir(join(root, "docker/registry/v2")), ["x"]);
  });

  it("releases the fd of a writer however its stream ended", async () => {
    async function* failing() {
      yield Buffer.alloc(3 << 20, 1);
      throw new Error("aborted");
    }
    const warm = await driver.writer("/fds/warm");
    await pipeline(Readable.from([Buffer.from("x")]), warm.stream);
    await warm.commit();
    const baseline = await openFds();
    for (const end of ["close", "commit", "cancel"] as const) {
      const w = await driver.writer(`/fds/${end}`);
      assert.ok((await openFds()) > baseline);
      await assert.rejects(pipeline(Readable.from(failing()), w.stream), /aborted/);
      await w[end]().catch(() => {});
      assert.equal(await openFds(), baseline, end);
      const ok = await driver.writer(`/fds/${end}-ok`);
      await pipeline(Readable.from([Buffer.from("fine")]), ok.stream);
      await ok[end]();
      assert.equal(await openFds(), baseline, `${end} after success`);
    }
    const r = await driver.reader("/fds/warm");
    r.destroy();
    await new Promise((resolve) => r.once("close", resolve));
    assert.equal(await openFds(), baseline);
    await (await driver.source("/fds/warm")).pipe(new Writable({ write: (_chunk, _encoding, callback) => callback() }));
    await (await driver.source("/fds/warm")).close();
    assert.equal(await openFds(), baseline);
    await assert.rejects(driver.reader("/fds/missing"));
    assert.equal(await openFds(), baseline);
  });
});

describe("filesystem driver: big blobs through slabs", () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "lading-slabs-"));
  });
  after(() => rm(root, { recursive: true, force: true }));

  /** Whether the filesystem under root takes O_DIRECT (tmpfs and some others do not). */
  function hasDirectIo(): boolean {
    const probe = join(root, "probe");
    writeFileSync(probe, "");
    try {
      closeSync(openSync(probe, constants.O_RDONLY | constants.O_DIRECT));
      return true;
    } catch {
      return false;
    }
  }

  /** The open flags of this process's fds on `file`. */
  async function flagsOn(file: string): Promise<number[]> {
    const flags: number[] = [];
    for (const fd of await readdir("/proc/self/fd")) {
      const target = await readlink(`/proc/self/fd/${fd}`).catch(() => "");
      if (target !== file) continue;
      const info = await readFile(`/proc/self/fdinfo/${fd}`, "utf8");
      flags.push(parseInt(/^flags:\s+(\d+)/m.exec(info)![1]!, 8));
    }
    return flags;
  }

  for (const directio of [true, false]) {
    it(`appends pieces of every alignment and reads every range back (directio ${directio})`, async () => {
      const driver = new FilesystemDriver(join(root, `append-${directio}`), { directio });
      try {
        const sizes = [1, 4095, 4097, (1 << 20) - 3, (1 << 20) + 5, 3 << 20, 17, 8192];
        const pieces = sizes.map((n) => randomBytes(n));
        for (const piece of pieces) {
          const w = await driver.writer("/blob", { append: true });
          await pipeline(Readable.from([piece.subarray(0, 1000), piece.subarray(1000)]), w.stream);
          await w.close();
        }
        const whole = Buffer.concat(pieces);
        assert.ok((await driver.getContent("/blob")).equals(whole));
        for (const [start, end] of [[0, whole.length - 1], [1, 4096], [4095, (2 << 20) + 1], [whole.length - 1, whole.length - 1]] as const) {
          const { dest, bytes } = collector();
          await (await driver.source("/blob", { start, end })).pipe(dest);
          assert.ok(bytes().equals(whole.subarray(start, end + 1)), `${start}-${end}`);
        }
        // Without append, a writer starts the object afresh.
        const w = await driver.writer("/blob");
        await pipeline(Readable.from([pieces[4]!]), w.stream);
        await w.commit();
        assert.ok((await driver.getContent("/blob")).equals(pieces[4]!));
      } finally {
        await driver.close();
      }
    });
  }

  it("writes and reads big objects by direct I/O where the filesystem has it, and only when configured", async () => {
    const supported = hasDirectIo();
    for (const directio of [true, false]) {
      const dir = join(root, `flags-${directio}`);
      const driver = new FilesystemDriver(dir, { directio });
      try {
        const file = join(dir, "big");
        const w = await driver.writer("/big");
        const writing = await flagsOn(file);
        assert.equal(writing.length, directio && supported ? 2 : 1);
        assert.equal(writing.filter((f) => f & constants.O_DIRECT).length, directio && supported ? 1 : 0);
        await pipeline(Readable.from([randomBytes(2 << 20)]), w.stream);
        await w.commit();
        const source = await driver.source("/big");
        const reading = await flagsOn(file);
        assert.equal(reading.length, directio && supported ? 2 : 1);
        assert.equal(reading.filter((f) => f & constants.O_DIRECT).length, directio && supported ? 1 : 0);
        await source.close();
        assert.deepEqual(await flagsOn(file), []);
      } finally {
        await driver.close();
      }
    }
  });

  it("falls back to streams when every slab is in use, and gets every slab back however a transfer ends", async () => {
    const driver = new FilesystemDriver(join(root, "pool"));
    const idle = slabs.idle;
    try {
      const data = randomBytes((2 << 20) + 99);
      const taken: Buffer[][] = [];
      for (let pair = slabs.takePair(); pair; pair = slabs.takePair()) taken.push(pair);
      const w = await driver.writer("/a");
      assert.ok(w.stream instanceof WriteStream);
      await pipeline(Readable.from([data]), w.stream);
      await w.commit();
      const { dest, bytes } = collector();
      await (await driver.source("/a")).pipe(dest);
      assert.ok(bytes().equals(data));
      for (const pair of taken) slabs.give(...pair);
      assert.equal(slabs.idle, idle);

      // A destination that fails after the first chunk; a body that fails after 3 MiB.
      let writes = 0;
      const failing = new Writable({
        write(_chunk, _encoding, callback) {
          callback(++writes > 1 ? new Error("client went away") : null);
        },
      });
      await assert.rejects((await driver.source("/a")).pipe(failing), /client went away/);
      assert.equal(slabs.idle, idle);
      // A destination that closes holding a write it never calls back (a response whose socket died).
      const stuck = new Writable({
        write() {
          setImmediate(() => stuck.destroy());
        },
      });
      await assert.rejects((await driver.source("/a")).pipe(stuck), /closed/);
      assert.equal(slabs.idle, idle);
      // A file that shrinks after it was opened.
      const shrinking = await driver.source("/a");
      await truncate(join(root, "pool", "a"), 1 << 20);
      await assert.rejects(shrinking.pipe(collector().dest), /file ended at byte 1048576/);
      assert.equal(slabs.idle, idle);
      await driver.putContent("/a", data);
      const sent = randomBytes((3 << 20) + 5000);
      async function* aborted() {
        yield sent;
        throw new Error("aborted");
      }
      const broken = await driver.writer("/b");
      assert.ok(!(broken.stream instanceof WriteStream));
      await assert.rejects(pipeline(Readable.from(aborted()), broken.stream), /aborted/);
      await broken.close();
      assert.equal(slabs.idle, idle);
      // Every byte that arrived before the failure is kept (an upload resumes after them).
      assert.ok((await driver.getContent("/b")).equals(sent));
    } finally {
      await driver.close();
    }
  });
});
