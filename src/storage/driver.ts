import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";

/**
 * The storage driver: a small key/blob store over paths, knowing nothing about OCI.
 *
 * Paths are absolute, slash-separated, of the form `/a/b/c` (see `isValidPath`). Directories are
 * implicit: they exist while something is stored beneath them. Every method that names a missing
 * path rejects with `PathNotFoundError`.
 */
export interface StorageDriver {
  readonly name: string;

  /**
   * Whether this process is the store's only user (filesystem and memory drivers): state that
   * only matters while this process runs, such as upload sessions without bytes, may then live in
   * memory. A shared store (object storage behind several replicas) is not exclusive.
   */
  readonly exclusive: boolean;

  /** Reads a small object whole (link files, manifests). */
  getContent(path: string): Promise<Buffer>;

  /** Stores a small object. Atomic (readers see the old or the new content) and durable on resolve. */
  putContent(path: string, content: Uint8Array, options?: WriteOptions): Promise<void>;

  /** Streams an object's bytes from `start` up to and including `end` (default: to its end). */
  reader(path: string, range?: { start?: number; end?: number }): Promise<Readable>;

  /**
   * Opens an object's bytes from `start` up to and including `end` for sending into one writable
   * (blob GETs); rejects like `reader` when the object is missing. A driver may move the bytes more
   * cheaply than a Readable can (the filesystem driver reuses its buffers).
   */
  source(path: string, range?: { start?: number; end?: number }): Promise<Source>;

  /**
   * Opens an object for streaming writes. With `append`, writing continues after the bytes already
   * there (an object that does not exist yet starts empty). Finish with `close()` (resumable later)
   * or `commit()` (durable), or discard with `cancel()`.
   */
  writer(path: string, options?: { append?: boolean }): Promise<FileWriter>;

  /** Size and modification time of an object, or `isDir` for a directory. */
  stat(path: string): Promise<FileInfo>;

  /** Names (not paths) of a directory's direct children, sorted. */
  list(path: string): Promise<string[]>;

  /**
   * Moves an object, replacing whatever is at `dest`. Atomic, and `dest` is durable on resolve; the
   * source may reappear after a crash (callers move things out of scratch space, never back).
   */
  move(source: string, dest: string): Promise<void>;

  /** Deletes an object, or a directory and everything beneath it. Atomic and durable on resolve. */
  delete(path: string, options?: WriteOptions): Promise<void>;

  /**
   * Several durable writes as one: applied in order, durable together on resolve (the filesystem
   * driver commits them with one journal record). After a crash and a restart of the driver, all of
   * them or none have happened; a reader of the bare tree in between may see a prefix of them, as if
   * they had been made one by one. A move whose source is missing rejects before anything is written.
   */
  batch(mutations: readonly Mutation[]): Promise<void>;

  /**
   * Waits until every write that has resolved is in the store as other readers of it see it (the
   * filesystem driver applies journaled writes to registry:2's tree just after answering them); for
   * those readers, such as tests of the bare tree. The driver's own reads never need it.
   */
  applied(): Promise<void>;

  /** Makes everything durable that is not yet (a journal checkpoint) and releases the driver. */
  close(): Promise<void>;
}

/** A durable write inside a `batch`. */
export type Mutation = { op: "put"; path: string; content: Uint8Array } | { op: "move"; source: string; dest: string };

export interface WriteOptions {
  /**
   * false: the change may be lost in a crash (never torn), which saves the syncs; for state that is
   * safe to lose, like the bookkeeping of an upload in progress. Default true.
   */
  durable?: boolean;
}

export interface FileInfo {
  path: string;
  size: number;
  modTime: Date;
  isDir: boolean;
}

/** Bytes opened for sending: exactly one of `pipe` and `close` is called. */
export interface Source {
  /** Writes the bytes into `dest` without ending it; resolves when `dest` has taken all of them. */
  pipe(dest: Writable): Promise<void>;
  /** Releases a source that will not be piped. */
  close(): Promise<void>;
}

/** A Source over a Readable, for drivers without a cheaper way. */
export function readableSource(stream: Readable): Source {
  return {
    pipe: (dest) => pipeline(stream, dest, { end: false }),
    close: async () => {
      stream.destroy();
    },
  };
}

export interface FileWriter {
  /**
   * Where the bytes go. The caller ends it (e.g. through `stream.pipeline`) and then calls exactly one
   * of `close`, `commit` or `cancel`. Writes honour backpressure.
   */
  readonly stream: Writable;
  /** Bytes in the object: what was there when opened plus what was written since. */
  readonly size: number;
  /** Releases the writer; the bytes written stay readable and the object can be reopened with append. */
  close(): Promise<void>;
  /** Makes every byte durable (fsync, or completing a multipart upload); then releases the writer. */
  commit(): Promise<void>;
  /** Releases the writer and deletes the object. */
  cancel(): Promise<void>;
}

export class StorageError extends Error {
  constructor(
    message: string,
    readonly driver: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "StorageError";
  }
}

/** The store refuses writes until the process restarts (its write-ahead journal failed). */
export class StorageUnavailableError extends StorageError {
  constructor(message: string, driver: string, options?: { cause?: unknown }) {
    super(message, driver, options);
    this.name = "StorageUnavailableError";
  }
}

export class PathNotFoundError extends StorageError {
  constructor(
    readonly path: string,
    driver: string,
  ) {
    super(`${driver}: path not found: ${path}`, driver);
    this.name = "PathNotFoundError";
  }
}

export class InvalidPathError extends StorageError {
  constructor(
    readonly path: string,
    driver: string,
  ) {
    super(`${driver}: invalid path: ${path}`, driver);
    this.name = "InvalidPathError";
  }
}

const pathRe = /^(?:\/[A-Za-z0-9._-]+)+$/;

/** A valid path: `/`, or absolute with no empty, `.` or `..` components, a conservative character set. */
export function isValidPath(path: string): boolean {
  if (path === "/") return true;
  if (!pathRe.test(path)) return false;
  return !path.split("/").some((part) => part === "." || part === "..");
}

export function isPathNotFound(err: unknown): err is PathNotFoundError {
  return err instanceof PathNotFoundError;
}
