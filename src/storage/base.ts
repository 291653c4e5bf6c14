import type { Readable } from "node:stream";
import {
  InvalidPathError,
  StorageError,
  isValidPath,
  type Capabilities,
  type FileInfo,
  type FileWriter,
  type ListPage,
  type Mutation,
  type Range,
  type Source,
  type StorageDriver,
} from "./driver.js";

/**
 * Wraps a driver so that every call, capabilities included, validates its paths and fails only
 * with StorageErrors naming the driver, the operation and the path (distribution's
 * driver/base/base.go). Drivers may then assume valid paths. As in base.go, `/` names the root
 * directory only: it can be listed and stat'ed, but it is not an object, so every other method
 * rejects it.
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

  function checkRange(path: string, range: Range | undefined): void {
    for (const [label, value] of [["start", range?.start], ["end", range?.end]] as const) {
      if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
        throw new StorageError(`${name}: reader ${path}: invalid ${label} offset ${value}`, name);
      }
    }
  }

  const inner = driver.capabilities;
  const capabilities: Capabilities = {
    ...(inner.exclusive ? { exclusive: true } : {}),
    ...(inner.batch
      ? {
          batch: async (mutations: readonly Mutation[]) => {
            for (const m of mutations) {
              if (m.op === "put") check(m.path);
              else {
                check(m.source);
                check(m.dest);
              }
            }
            const what = mutations.map((m) => (m.op === "put" ? m.path : `${m.source} -> ${m.dest}`)).join(", ");
            return call("batch", what, () => inner.batch!(mutations));
          },
        }
      : {}),
    ...(inner.send
      ? {
          send: async (path: string, range?: Range): Promise<Source> => {
            check(path);
            checkRange(path, range);
            const source = await call("send", path, () => inner.send!(path, range));
            return { pipe: (dest) => call("send", path, () => source.pipe(dest)), close: () => call("close", path, () => source.close()) };
          },
        }
      : {}),
    ...(inner.redirect
      ? {
          redirect: async (path: string, seconds: number) => {
            check(path);
            return call("redirect", path, () => inner.redirect!(path, seconds));
          },
        }
      : {}),
    ...(inner.abortAbandoned
      ? {
          abortAbandoned: async (dir: string, olderThan: Date) => {
            check(dir, true);
            return call("abortAbandoned", dir, () => inner.abortAbandoned!(dir, olderThan));
          },
        }
      : {}),
    ...(inner.lossy
      ? {
          lossy: {
            putContent: async (path: string, content: Uint8Array) => {
              check(path);
              return call("putContent", path, () => inner.lossy!.putContent(path, content));
            },
            delete: async (path: string) => {
              check(path);
              return call("delete", path, () => inner.lossy!.delete(path));
            },
          },
        }
      : {}),
    ...(inner.applied ? { applied: () => inner.applied!() } : {}),
  };

  return {
    name,
    capabilities,

    async getContent(path: string): Promise<Buffer> {
      check(path);
      return call("getContent", path, () => driver.getContent(path));
    },

    async putContent(path: string, content: Uint8Array): Promise<void> {
      check(path);
      return call("putContent", path, () => driver.putContent(path, content));
    },

    async reader(path: string, range?: Range): Promise<Readable> {
      check(path);
      checkRange(path, range);
      return call("reader", path, () => driver.reader(path, range));
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

    async list(path: string, page?: ListPage): Promise<string[]> {
      check(path, true);
      return call("list", path, () => driver.list(path, page));
    },

    async move(source: string, dest: string): Promise<void> {
      check(source);
      check(dest);
      return call("move", `${source} -> ${dest}`, () => driver.move(source, dest));
    },

    async delete(path: string): Promise<void> {
      check(path);
      return call("delete", path, () => driver.delete(path));
    },

    close: () => call("close", "/", () => driver.close()),
  };
}
