import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { checked } from "../../src/storage/base.js";
import { openSource, writeAll as writeMutations } from "../../src/storage/ops.js";
import {
  InvalidPathError,
  PathNotFoundError,
  StorageError,
  type FileWriter,
  type StorageDriver,
} from "../../src/storage/driver.js";

export interface DriverHarness {
  driver: StorageDriver;
  cleanup(): Promise<void>;
  /** Every file the backend holds, as driver paths, read behind the driver's back (temp files too). */
  backendFiles?(): Promise<string[]>;
}

const notFound = (err: unknown) => err instanceof PathNotFoundError;

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A destination that keeps a copy of each chunk (a source may reuse its buffers once a write is done). */
export function collector(): { dest: Writable; bytes(): Buffer } {
  const chunks: Buffer[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(Buffer.from(chunk));
      callback();
    },
  });
  return { dest, bytes: () => Buffer.concat(chunks) };
}

async function writeAll(w: FileWriter, ...chunks: Buffer[]): Promise<void> {
  await pipeline(Readable.from(chunks), w.stream);
}

function join(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

async function walk(d: StorageDriver, dir: string, out: string[] = []): Promise<string[]> {
  for (const name of await d.list(dir)) {
    const path = join(dir, name);
    if ((await d.stat(path)).isDir) await walk(d, path, out);
    else out.push(path);
  }
  return out;
}

/** distribution's storage driver test suite, for every driver: run through the `checked` wrapper. */
export function driverSuite(name: string, make: () => Promise<DriverHarness>): void {
  describe(`storage driver: ${name}`, () => {
    let harness: DriverHarness;
    let d: StorageDriver;
    // The files the tests leave in place: at the end, exactly these may exist.
    const kept = new Set<string>();
    let n = 0;
    const fresh = () => `/suite/t${++n}`;

    async function put(path: string, data: Uint8Array): Promise<void> {
      await d.putContent(path, data);
      kept.add(path);
    }
    function forget(prefix: string): void {
      for (const p of kept) if (p === prefix || p.startsWith(`${prefix}/`)) kept.delete(p);
    }

    before(async () => {
      harness = await make();
      d = checked(harness.driver);
    });
    after(() => harness.cleanup());

    it("round-trips content: empty, small, 1 MiB, every byte value", async () => {
      const dir = fresh();
      const binary = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
      const cases = [Buffer.alloc(0), Buffer.from("hello"), randomBytes(1 << 20), binary];
      for (const [i, data] of cases.entries()) {
        await put(`${dir}/c${i}`, data);
        assert.deepEqual(await d.getContent(`${dir}/c${i}`), data);
        assert.equal((await d.stat(`${dir}/c${i}`)).size, data.length);
      }
    });

    it("overwrites with shorter content", async () => {
      const path = `${fresh()}/obj`;
      await put(path, Buffer.from("a much longer first value"));
      await put(path, Buffer.from("short"));
      assert.deepEqual(await d.getContent(path), Buffer.from("short"));
      assert.equal((await d.stat(path)).size, 5);
    });

    it("rejects missing paths with PathNotFoundError in every method", async () => {
      const dir = fresh();
      await put(`${dir}/file`, Buffer.from("x"));
      for (const path of [`${dir}/missing`, `/nowhere/at/all`, `${dir}/file/below`]) {
        await assert.rejects(d.getContent(path), notFound);
        await assert.rejects(d.reader(path), notFound);
        await assert.rejects(openSource(d, path), notFound);
        await assert.rejects(d.stat(path), notFound);
        await assert.rejects(d.list(path), notFound);
        await assert.rejects(d.move(path, `${dir}/dest`), notFound);
        await assert.rejects(d.delete(path), notFound);
      }
      await assert.rejects(d.list(`${dir}/file`), notFound);
      await assert.rejects(d.getContent(dir), notFound);
      await assert.rejects(d.reader(dir), notFound);
      await assert.rejects(openSource(d, dir), notFound);
    });

    it("rejects invalid paths with InvalidPathError naming the driver", async () => {
      const valid = `${fresh()}/ok`;
      const bad = ["", "a", "a/b", "/a/", "//a", "/a//b", "/a/./b", "/a/../b", "/..", "/a b", "/a\u00e9", "/a\\b", "/a:b"];
      const invalid = (err: unknown) => err instanceof InvalidPathError && err.message.startsWith(`${d.name}:`);
      for (const path of bad) {
        await assert.rejects(d.getContent(path), invalid, path);
        await assert.rejects(d.putContent(path, Buffer.from("x")), invalid, path);
        await assert.rejects(d.reader(path), invalid, path);
        await assert.rejects(openSource(d, path), invalid, path);
        await assert.rejects(d.writer(path), invalid, path);
        await assert.rejects(d.stat(path), invalid, path);
        await assert.rejects(d.list(path), invalid, path);
        await assert.rejects(d.move(path, valid), invalid, path);
        await assert.rejects(d.move(valid, path), invalid, path);
        await assert.rejects(d.delete(path), invalid, path);
      }
      // The root is a directory, never an object.
      await assert.rejects(d.putContent("/", Buffer.from("x")), invalid);
      await assert.rejects(d.delete("/"), invalid);
      assert.ok((await d.list("/")).includes("suite"));
      assert.equal((await d.stat("/")).isDir, true);
      await put(valid, Buffer.from("x"));
      await assert.rejects(d.reader(valid, { start: -1 }), StorageError);
      await assert.rejects(openSource(d, valid, { end: 1.5 }), StorageError);
    });

    it("lists direct children only, sorted; a file or missing directory is not listable", async () => {
      const dir = fresh();
      const names = ["zeta", "alpha", "Beta", "10", "9", "_x", "a.b", "a-b"];
      for (const name of names) await put(`${dir}/${name}`, Buffer.from(name));
      await put(`${dir}/nested/deeper/leaf`, Buffer.from("leaf"));
      await put(`${dir}/nested/other`, Buffer.from("other"));
      assert.deepEqual(await d.list(dir), [...names, "nested"].sort());
      assert.deepEqual(await d.list(`${dir}/nested`), ["deeper", "other"]);
      assert.deepEqual(await d.list(`${dir}/nested/deeper`), ["leaf"]);
      await assert.rejects(d.list(`${dir}/zeta`), notFound);
      await assert.rejects(d.list(`${dir}/absent`), notFound);
    });

    it("stats files and directories", async () => {
      const dir = fresh();
      const before = Date.now();
      await put(`${dir}/sub/file`, Buffer.from("12345"));
      const file = await d.stat(`${dir}/sub/file`);
      assert.equal(file.path, `${dir}/sub/file`);
      assert.equal(file.isDir, false);
      assert.equal(file.size, 5);
      assert.ok(Math.abs(file.modTime.getTime() - before) < 10_000);
      for (const path of [dir, `${dir}/sub`]) {
        const info = await d.stat(path);
        assert.equal(info.isDir, true);
        assert.equal(info.path, path);
        assert.ok(info.modTime instanceof Date);
      }
    });

    it("reads byte ranges, end inclusive", async () => {
      const path = `${fresh()}/ranged`;
      const data = randomBytes(1000);
      await put(path, data);
      const read = async (range?: { start?: number; end?: number }) => readAll(await d.reader(path, range));
      assert.deepEqual(await read(), data);
      assert.deepEqual(await read({ start: 100 }), data.subarray(100));
      assert.deepEqual(await read({ start: 100, end: 199 }), data.subarray(100, 200));
      assert.deepEqual(await read({ start: 7, end: 7 }), data.subarray(7, 8));
      assert.deepEqual(await read({ end: 9 }), data.subarray(0, 10));
      assert.deepEqual(await read({ start: 990, end: 5000 }), data.subarray(990));
      assert.equal((await read({ start: 1000 })).length, 0);
    });

    it("sends byte ranges into a writable it does not end; a missing path rejects at open", async () => {
      const path = `${fresh()}/sent`;
      const data = randomBytes((3 << 20) + 1234);
      await put(path, data);
      const send = async (range?: { start?: number; end?: number }) => {
        const { dest, bytes } = collector();
        await (await openSource(d, path, range)).pipe(dest);
        assert.equal(dest.writableEnded, false);
        return bytes();
      };
      assert.ok((await send()).equals(data));
      assert.ok((await send({ start: 4097, end: (2 << 20) + 3 })).equals(data.subarray(4097, (2 << 20) + 4)));
      assert.ok((await send({ start: data.length - 5 })).equals(data.subarray(data.length - 5)));
      assert.ok((await send({ start: 7, end: 7 })).equals(data.subarray(7, 8)));
      assert.ok((await send({ start: 100, end: 10 << 20 })).equals(data.subarray(100)));
      assert.equal((await send({ start: data.length })).length, 0);
      const unused = await openSource(d, path);
      await unused.close();
      await assert.rejects(openSource(d, `${fresh()}/missing`), notFound);
    });

    it("writes through a writer and commits", async () => {
      const path = `${fresh()}/written`;
      const w = await d.writer(path);
      assert.equal(w.size, 0);
      await writeAll(w, Buffer.from("one "), Buffer.from("two "), Buffer.from("three"));
      assert.equal(w.size, 13);
      await w.commit();
      kept.add(path);
      assert.deepEqual(await d.getContent(path), Buffer.from("one two three"));
    });

    it("closes, then reopens with append and continues", async () => {
      const dir = fresh();
      const w1 = await d.writer(`${dir}/resumed`);
      await writeAll(w1, Buffer.from("hello "));
      await w1.close();
      kept.add(`${dir}/resumed`);
      assert.equal((await d.stat(`${dir}/resumed`)).size, 6);
      const w2 = await d.writer(`${dir}/resumed`, { append: true });
      assert.equal(w2.size, 6);
      await writeAll(w2, Buffer.from("wor"), Buffer.from("ld"));
      assert.equal(w2.size, 11);
      await w2.commit();
      assert.deepEqual(await d.getContent(`${dir}/resumed`), Buffer.from("hello world"));

      const w3 = await d.writer(`${dir}/fresh`, { append: true });
      assert.equal(w3.size, 0);
      await writeAll(w3, Buffer.from("new"));
      await w3.close();
      kept.add(`${dir}/fresh`);
      assert.deepEqual(await d.getContent(`${dir}/fresh`), Buffer.from("new"));
    });

    it("truncates without append", async () => {
      const path = `${fresh()}/truncated`;
      await put(path, Buffer.from("previous content"));
      const w = await d.writer(path);
      await writeAll(w, Buffer.from("x"));
      await w.commit();
      assert.deepEqual(await d.getContent(path), Buffer.from("x"));
    });

    it("cancel removes the object, new or appended to", async () => {
      const dir = fresh();
      const w = await d.writer(`${dir}/new`);
      await writeAll(w, Buffer.from("discard me"));
      await w.cancel();
      await assert.rejects(d.stat(`${dir}/new`), notFound);
      await put(`${dir}/old`, Buffer.from("old"));
      const w2 = await d.writer(`${dir}/old`, { append: true });
      await writeAll(w2, Buffer.from("more"));
      await w2.cancel();
      forget(`${dir}/old`);
      await assert.rejects(d.getContent(`${dir}/old`), notFound);
    });

    it("releases a writer whose stream failed", async () => {
      const dir = fresh();
      async function* failing() {
        yield Buffer.from("partial");
        throw new Error("client went away");
      }
      const w1 = await d.writer(`${dir}/cancelled`);
      await assert.rejects(pipeline(Readable.from(failing()), w1.stream), /client went away/);
      await w1.cancel();
      await assert.rejects(d.stat(`${dir}/cancelled`), notFound);

      const w2 = await d.writer(`${dir}/closed`);
      await assert.rejects(pipeline(Readable.from(failing()), w2.stream), /client went away/);
      await w2.close();
      kept.add(`${dir}/closed`);
      const w3 = await d.writer(`${dir}/closed`, { append: true });
      assert.equal(w3.size, (await d.stat(`${dir}/closed`)).size);
      await writeAll(w3, Buffer.from("!"));
      await w3.commit();
      assert.ok((await d.getContent(`${dir}/closed`)).toString().endsWith("!"));

      const w4 = await d.writer(`${dir}/uncommitted`);
      await assert.rejects(pipeline(Readable.from(failing()), w4.stream), /client went away/);
      await assert.rejects(w4.commit(), StorageError);
      await d.delete(`${dir}/uncommitted`);
    });

    it("streams 32 MiB through pipeline with backpressure, verified by sha256", async () => {
      const path = `${fresh()}/big`;
      const chunkSize = 64 << 10;
      const total = 32 << 20;
      const hash = createHash("sha256");
      let sample: Buffer | undefined;
      function* generate() {
        for (let i = 0; i < total / chunkSize; i++) {
          const chunk = randomBytes(chunkSize);
          if (i === 100) sample = chunk;
          hash.update(chunk);
          yield chunk;
        }
      }
      const w = await d.writer(path);
      await pipeline(Readable.from(generate()), w.stream);
      assert.equal(w.size, total);
      await w.commit();
      kept.add(path);
      assert.equal((await d.stat(path)).size, total);
      const readHash = createHash("sha256");
      await pipeline(await d.reader(path), readHash);
      assert.equal(readHash.digest("hex"), hash.digest("hex"));
      const slice = await readAll(await d.reader(path, { start: 100 * chunkSize, end: 101 * chunkSize - 1 }));
      assert.deepEqual(slice, sample);
    });

    it("moves, replacing the destination and creating its parents", async () => {
      const dir = fresh();
      await put(`${dir}/src`, Buffer.from("source"));
      await put(`${dir}/dst`, Buffer.from("destination"));
      await d.move(`${dir}/src`, `${dir}/dst`);
      forget(`${dir}/src`);
      assert.deepEqual(await d.getContent(`${dir}/dst`), Buffer.from("source"));
      await assert.rejects(d.stat(`${dir}/src`), notFound);

      await d.move(`${dir}/dst`, `${dir}/a/b/c/moved`);
      forget(`${dir}/dst`);
      kept.add(`${dir}/a/b/c/moved`);
      assert.deepEqual(await d.getContent(`${dir}/a/b/c/moved`), Buffer.from("source"));
      assert.deepEqual(await d.list(dir), ["a"]);

      await put(`${dir}/kept`, Buffer.from("untouched"));
      await assert.rejects(d.move(`${dir}/gone`, `${dir}/kept`), notFound);
      assert.deepEqual(await d.getContent(`${dir}/kept`), Buffer.from("untouched"));
    });

    it("deletes files and whole trees", async () => {
      const dir = fresh();
      await put(`${dir}/a`, Buffer.from("a"));
      await put(`${dir}/file`, Buffer.from("f"));
      for (const p of ["b/c", "b/d/e", "b/d/f"]) await put(`${dir}/${p}`, Buffer.from(p));
      await d.delete(`${dir}/file`);
      forget(`${dir}/file`);
      await assert.rejects(d.getContent(`${dir}/file`), notFound);
      await d.delete(`${dir}/b`);
      forget(`${dir}/b`);
      for (const p of ["b", "b/c", "b/d", "b/d/e"]) await assert.rejects(d.stat(`${dir}/${p}`), notFound);
      assert.deepEqual(await d.list(dir), ["a"]);
      await assert.rejects(d.delete(`${dir}/b`), notFound);
    });

    it("writes puts and moves in order, as a batch where the driver can and one by one where not", async () => {
      const dir = fresh();
      await d.putContent(`${dir}/up`, Buffer.from("bytes"));
      await writeMutations(d, [
        { op: "move", source: `${dir}/up`, dest: `${dir}/blob/data` },
        { op: "put", path: `${dir}/link`, content: Buffer.from("one") },
        { op: "put", path: `${dir}/link`, content: Buffer.from("two") },
      ]);
      kept.add(`${dir}/blob/data`);
      kept.add(`${dir}/link`);
      assert.deepEqual(await d.getContent(`${dir}/blob/data`), Buffer.from("bytes"));
      assert.deepEqual(await d.getContent(`${dir}/link`), Buffer.from("two"));
      await assert.rejects(d.stat(`${dir}/up`), notFound);
      await assert.rejects(writeMutations(d, [{ op: "put", path: "/bad/../path", content: Buffer.alloc(0) }]), InvalidPathError);
      const batch = d.capabilities.batch;
      if (batch === undefined) return;
      // A batch is all or nothing: a missing move source fails it before anything is written.
      await assert.rejects(batch([{ op: "put", path: `${dir}/never`, content: Buffer.from("x") }, { op: "move", source: `${dir}/gone`, dest: `${dir}/m` }]), notFound);
      await assert.rejects(d.stat(`${dir}/never`), notFound);
    });

    it("lists a directory page by page, in order", async () => {
      const dir = fresh();
      const names = ["a", "b", "b-1", "c.d", "e", "f/g"].map((n) => `${dir}/${n}`);
      for (const path of names) await put(path, Buffer.from("x"));
      assert.deepEqual(await d.list(dir), ["a", "b", "b-1", "c.d", "e", "f"]);
      assert.deepEqual(await d.list(dir, { limit: 2 }), ["a", "b"]);
      assert.deepEqual(await d.list(dir, { after: "b", limit: 2 }), ["b-1", "c.d"]);
      assert.deepEqual(await d.list(dir, { after: "bb" }), ["c.d", "e", "f"]);
      assert.deepEqual(await d.list(dir, { after: "f" }), []);
    });

    it("concurrent putContent: readers and the result always see one whole value", async () => {
      const path = `${fresh()}/contended`;
      const values = Array.from({ length: 9 }, (_, i) => Buffer.alloc(128 << 10, i));
      await put(path, values[0] ?? Buffer.alloc(0));
      const whole = (b: Buffer) => values.some((v) => v.equals(b));
      let done = false;
      const writes = Promise.all(values.slice(1).map((v) => d.putContent(path, v))).finally(() => (done = true));
      for (let reads = 0; !done && reads < 10_000; reads++) {
        assert.ok(whole(await d.getContent(path)), "torn read");
      }
      await writes;
      assert.ok(whole(await d.getContent(path)));
      assert.deepEqual(await d.list(path.slice(0, path.lastIndexOf("/"))), ["contended"]);
    });

    it("leaves nothing behind: exactly the files the tests kept", async () => {
      const expected = [...kept].sort();
      assert.deepEqual((await walk(d, "/")).sort(), expected);
      if (harness.backendFiles) assert.deepEqual((await harness.backendFiles()).sort(), expected);
    });
  });
}
