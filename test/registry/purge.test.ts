import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { purgeUploads } from "../../src/registry/purge.js";
import { UploadStore } from "../../src/registry/uploads.js";
import { BlobStore } from "../../src/registry/blobs.js";
import { memoryDriver } from "../../src/storage/index.js";
import { uploadStartedAtPath } from "../../src/storage/paths.js";

describe("upload purging", () => {
  it("deletes uploads older than the age in every repository, nested names included, and keeps the rest", async () => {
    const driver = memoryDriver();
    const uploads = new UploadStore(driver, new BlobStore(driver));
    const old1 = await uploads.start("a");
    const old2 = await uploads.start("team/deep/b");
    const fresh = await uploads.start("a");
    // Sessions without bytes live in memory until they get some, or until shutdown writes them.
    assert.deepEqual(await driver.list("/docker/registry/v2/repositories/a").catch(() => []), []);
    await uploads.persistFresh();
    const week = 7 * 24 * 3600 * 1000;
    for (const [name, id] of [["a", old1], ["team/deep/b", old2]] as const) {
      await driver.putContent(uploadStartedAtPath(name, id), Buffer.from(new Date(Date.now() - 2 * week).toISOString()));
    }
    const dry = await purgeUploads(driver, new Date(Date.now() - week), true);
    assert.deepEqual(dry.purged.sort(), [`a/${old1}`, `team/deep/b/${old2}`].sort());
    assert.equal(await uploads.offset("a", old1), 0, "a dry run deletes nothing");

    const result = await purgeUploads(driver, new Date(Date.now() - week));
    assert.equal(result.kept, 1);
    await assert.rejects(uploads.offset("a", old1), /blob upload unknown/);
    await assert.rejects(uploads.offset("team/deep/b", old2), /blob upload unknown/);
    assert.equal(await uploads.offset("a", fresh), 0);
  });

  it("forgets sessions held in memory that are older than the age, and only those", async () => {
    const driver = memoryDriver();
    const uploads = new UploadStore(driver, new BlobStore(driver));
    const id = await uploads.start("a");
    assert.deepEqual(uploads.purgeFresh(new Date(Date.now() - 1000)), []);
    assert.equal(await uploads.offset("a", id), 0);
    assert.deepEqual(uploads.purgeFresh(new Date(Date.now() + 1000)), [`a/${id}`]);
    await assert.rejects(uploads.offset("a", id), /blob upload unknown/);
  });

  it("binds a session held in memory to its repository", async () => {
    const driver = memoryDriver();
    const uploads = new UploadStore(driver, new BlobStore(driver));
    const id = await uploads.start("a");
    await assert.rejects(uploads.offset("b", id), /blob upload unknown/);
  });
});
