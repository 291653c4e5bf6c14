import type { Readable } from "node:stream";
import {
  InvalidPathError,
  StorageError,
  isValidPath,
  type FileInfo,
  type FileWriter,
  type Mutation,
  type Source,
  type StorageDriver,
  type WriteOptions,
} from "./driver.js";

/**
 * Wraps a driver so that every call validates its paths and fails only with StorageErrors naming the
 * driver, the operation and the path (distribution's driver/base/base.go). Drivers may then assume
 * valid paths. As in base.go, `/` names the root directory only: it can be listed and stat'ed, but
 * it is not an object, so every other method rejects it.
 */
export function checked(driver: StorageDriver): StorageDriver {
  const name = driver.name;

  function check(path: string, rootAllowed = false): void {
    if (!isValidPath(path) || (path === "/" && !rootAllowed)) throw new InvalidPathError(path, name);
  }

  async function call<T>(op: string, path: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof StorageError) throw err;
      const message = err instanceof Error ? err.message : String(err);
      throw new StorageError(`${name}: ${op} ${path}: ${message}`, name, { cause: err });
    }
  }

  function checkOffset(path: string, label: string, value: number | undefined): void {
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
      throw new StorageError(`${name}: reader ${path}: invalid ${label} offset ${value}`, name);
    }
  }

  return {
    name,
    exclusive: driver.exclusive,

    async getContent(path: string): Promise<Buffer> {
      check(path);
      return call("getContent", path, () => driver.getContent(path));
    },

    async putContent(path: string, content: Uint8Array, options?: WriteOptions): Promise<void> {
      check(path);
      return call("putContent", path, () => driver.putContent(path, content, options));
    },

    async reader(path: string, range?: { start?: number; end?: number }): Promise<Readable> {
      check(path);
      checkOffset(path, "start", range?.start);
      checkOffset(path, "end", range?.end);
      return call("reader", path, () => driver.reader(path, range));
    },

    async source(path: string, range?: { start?: number; end?: number }): Promise<Source> {
      check(path);
      checkOffset(path, "start", range?.start);
      checkOffset(path, "end", range?.end);
      const source = await call("source", path, () => driver.source(path, range));
      return { pipe: (dest) => call("send", path, () => source.pipe(dest)), close: () => call("close", path, () => source.close()) };
    },

    async writer(path: string, options?: { append?: boolean }): Promise<FileWriter> {
      check(path);
      const w = await call("writer", path, () => driver.writer(path, options));
      return {
        stream: w.stream,
        get size() {
          return w.size;
        },
        close: () => call("close", path, () => w.close()),
        commit: () => call("commit", path, () => w.commit()),
        cancel: () => call("cancel", path, () => w.cancel()),
      };
    },

    async stat(path: string): Promise<FileInfo> {
      check(path, true);
      return call("stat", path, () => driver.stat(path));
    },

    async list(path: string): Promise<string[]> {
      check(path, true);
      return call("list", path, () => driver.list(path));
    },

    async move(source: string, dest: string): Promise<void> {
      check(source);
      check(dest);
      return call("move", `${source} -> ${dest}`, () => driver.move(source, dest));
    },

    async delete(path: string, options?: WriteOptions): Promise<void> {
      check(path);
      return call("delete", path, () => driver.delete(path, options));
    },

    async batch(mutations: readonly Mutation[]): Promise<void> {
      for (const m of mutations) {
        if (m.op === "put") check(m.path);
        else {
          check(m.source);
          check(m.dest);
        }
      }
      const what = mutations.map((m) => (m.op === "put" ? m.path : `${m.source} -> ${m.dest}`)).join(", ");
      return call("batch", what, () => driver.batch(mutations));
    },

    applied: () => driver.applied(),
    close: () => call("close", "/", () => driver.close()),
  };
}
