import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readdir, readFile, readlink, rm, utimes, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { after, before, describe, it } from "node:test";
import { FilesystemDriver, isTempName, journalDir } from "../../src/storage/fs.js";
import { driverSuite } from "./suite.js";

/** Every file under root, as a driver path, including any temporary file the driver hides. */
async function backendFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => !e.isDirectory())
    .map((e) => join(e.parentPath ?? e.path, e.name).slice(root.length))
    .filter((p) => !p.startsWith(`/${journalDir}/`) && p !== "/.lading-owner");
}

driverSuite("filesystem", async () => {
  const root = await mkdtemp(join(tmpdir(), "lading-fs-"));
  return {
    driver: new FilesystemDriver(root),
    cleanup: () => rm(root, { recursive: true, force: true }),
    backendFiles: async () => {
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
  after(() => rm(root, { recursive: true, force: true }));

  const openFds = async () => (await readdir("/proc/self/fd")).length;

  it("maps driver paths under the root", async () => {
    await driver.putContent("/docker/registry/v2/x", Buffer.from("x"));
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
      assert.equal(await openFds(), baseline + 1);
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
    await assert.rejects(driver.reader("/fds/missing"));
    assert.equal(await openFds(), baseline);
  });
});
