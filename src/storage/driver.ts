import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";

/**
 * The storage driver: a small key/blob store over paths, knowing nothing about OCI. The core below
 * is what every backend keeps (a filesystem, memory, an object store); what only some can do is a
 * capability the registry asks for and falls back from.
 *
 * Paths are absolute, slash-separated, of the form `/a/b/c` (see `isValidPath`). Directories are
 * implicit: they exist while something is stored beneath them. Every method that names a missing
 * path rejects with `PathNotFoundError`. Every write is durable when it resolves, and a reader sees
 * an object whole, old or new, never torn.
 */
export interface StorageDriver {
  readonly name: string;
  readonly capabilities: Capabilities;

  /** Reads a small object whole (link files, manifests). */
  getContent(path: string): Promise<Buffer>;

  /** Stores a small object. */
  putContent(path: string, content: Uint8Array): Promise<void>;

  /** Streams an object's bytes from `start` up to and including `end` (default: to its end). */
  reader(path: string, range?: Range): Promise<Readable>;

  /**
   * Opens an object for streaming writes. With `append`, writing continues after the bytes already
   * there (an object that does not exist yet starts empty). Finish with `close()` (resumable later)
   * or `commit()` (complete), or discard with `cancel()`. The bytes are readable at `path` only
   * once committed, or, on drivers that can, once closed.
   */
  writer(path: string, options?: { append?: boolean }): Promise<FileWriter>;

  /** Size and modification time of an object, or `isDir` for a directory. */
  stat(path: string): Promise<FileInfo>;

  /**
   * Names (not paths) of a directory's direct children, in ASCII order: all of them, or with `page`
   * at most `limit` of those after `after` (an object store lists a thousand at a time).
   */
  list(path: string, page?: ListPage): Promise<string[]>;

  /** Moves an object, replacing whatever is at `dest`; the source may reappear after a crash. */
  move(source: string, dest: string): Promise<void>;

  /** Deletes an object, or a directory and everything beneath it. */
  delete(path: string): Promise<void>;

  /** Releases the driver, making durable whatever it holds back. */
  close(): Promise<void>;
}

/**
 * What some drivers can do beyond the core. The registry asks for each and falls back without it
 * (see `ops.ts`): every capability is a way of doing something the core can also do, more cheaply
 * or with a stronger guarantee.
 */
export interface Capabilities {
  /**
   * This process is the store's only user (the filesystem and memory drivers): state that only
   * matters while it runs, such as upload sessions without bytes, may live in memory, and what it
   * has read stays true until it changes it. A shared store (object storage behind several
   * replicas) is not exclusive.
   */
  readonly exclusive?: true;

  /**
   * Several writes as one: applied in order, durable together on resolve; after a crash all of
   * them or none have happened. A reader of the bare tree in between may see a prefix of them, as
   * if made one by one. A move whose source is missing rejects before anything is written. Without
   * it the writes are made one by one, in the same order, which callers keep safe at every prefix.
   */
  batch?(mutations: readonly Mutation[]): Promise<void>;

  /** Opens an object's bytes for sending into one writable more cheaply than `reader` (reused buffers). */
  send?(path: string, range?: Range): Promise<Source>;

  /**
   * Aborts writes left unfinished under `dir` that began before `olderThan` (an object store's
   * multipart uploads, which cost storage until aborted), returning the paths they were writing.
   */
  abortAbandoned?(dir: string, olderThan: Date): Promise<string[]>;

  /** A URL from which a client may GET the object for `seconds` (a presigned URL). */
  redirect?(path: string, seconds: number): Promise<string>;

  /** Writes that may be lost in a crash, never torn: cheaper where durability costs syncs. */
  readonly lossy?: {
    putContent(path: string, content: Uint8Array): Promise<void>;
    delete(path: string): Promise<void>;
  };

  /**
   * Waits until every write that has resolved is visible to other readers of the store (the
   * filesystem driver answers writes once journaled and applies them to the tree just after).
   */
  applied?(): Promise<void>;
}

export interface Range {
  start?: number;
  end?: number;
}

export interface ListPage {
  /** Only names after this one. */
  after?: string;
  /** At most this many. */
  limit?: number;
}

/** A write inside a `batch`. */
export type Mutation = { op: "put"; path: string; content: Uint8Array } | { op: "move"; source: string; dest: string };

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
  /**
   * Makes every byte durable (fsync, or completing a multipart upload); then releases the writer.
   * When it fails, the writer stays open: close it (keeping what arrived) or cancel it.
   */
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

/**
 * The store has no room for a write (a full disk, a quota): nothing of the write is kept, and
 * writes succeed again once space is freed, without a restart.
 */
export class StorageFullError extends StorageError {
  constructor(message: string, driver: string, options?: { cause?: unknown }) {
    super(message, driver, options);
    this.name = "StorageFullError";
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

/** Whether an errno code says the filesystem has no room (blocks or inodes) or a quota is reached. */
export function isNoSpaceCode(code: unknown): boolean {
  return code === "ENOSPC" || code === "EDQUOT";
}

/**
 * Whether a write failed for lack of room: a StorageFullError, or an error from a driver's stream
 * (which reaches the caller as the system error it is) whose errno code, or a cause's, says so.
 */
export function isStorageFull(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof StorageFullError || isNoSpaceCode((e as { code?: unknown }).code)) return true;
  }
  return false;
}
