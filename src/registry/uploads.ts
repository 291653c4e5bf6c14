import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import type { Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { newHash, type Algorithm, type Digest } from "../oci/digest.js";
import { RegistryError } from "../oci/errors.js";
import { isPathNotFound, isStorageFull, type FileWriter, type StorageDriver } from "../storage/driver.js";
import { uploadDataPath, uploadHashStatePath, uploadPath, uploadStartedAtPath } from "../storage/paths.js";
import { nativeHash, resumableHash, type UploadHash } from "./upload-hash.js";
import { smallBlobSize, type BlobStore } from "./blobs.js";
import { deleteIfExists } from "./links.js";
import { purgeUploads, type PurgeResult } from "./purge.js";
import { writable, type WritePolicy } from "./write-policy.js";
import { putLossy } from "../storage/ops.js";

/** The hash of an upload's bytes so far, kept between requests so that nothing is read back. */
interface LiveHash {
  algorithm: Algorithm;
  hash: UploadHash;
  /** Bytes fed to `hash`; when it differs from the stored size the hash is rebuilt from storage. */
  hashed: number;
}

/** What a chunk request claims: its Content-Range start/end and its Content-Length. */
export interface ChunkClaim {
  start?: number;
  end?: number;
  length?: number;
}

/** The upload's size after a request, and how many bytes that request brought. */
export interface Received {
  size: number;
  received: number;
}

/** `lading.limits` as the upload store applies them; absent: no limit. */
export interface UploadLimits {
  /** The largest blob an upload may make, in bytes. */
  maxBlobSize?: number;
  /** Sessions one client may have open. */
  openPerClient?: number;
}

function tooLarge(max: number): RegistryError {
  return new RegistryError("SIZE_INVALID", `the blob would be larger than the ${max} bytes this registry takes (lading.limits.maxblobsize)`, { status: 413 });
}

function isTooLarge(err: unknown): boolean {
  return err instanceof RegistryError && err.code === "SIZE_INVALID" && err.status === 413;
}

const idRe = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const maxLiveHashes = 10_000;
const maxFreshSessions = 100_000;

/**
 * Upload sessions in the reference registry's layout (`_uploads/<id>/data` and `startedat`).
 * The stored bytes are the truth: the offset is the data file's size, so a session with bytes
 * survives a restart (its hash is rebuilt from storage) and is served by any replica.
 */
export class UploadStore {
  private readonly live = new Map<string, LiveHash>();
  private readonly busy = new Set<string>();
  /** Uploads a request of this process is writing to, settled when it lets go. */
  private readonly writing = new Map<string, Promise<void>>();
  /**
   * Sessions that have no bytes yet, kept in memory instead of storage when the store is this
   * process's alone: most uploads are one POST and one PUT, and a session directory made and
   * removed around every small blob costs the filesystem more than the blob (the kernel scans
   * recently freed inodes at every allocation). A session is written to storage with its first byte.
   */
  private readonly fresh = new Map<string, { name: string; startedAt: Date }>();

  /** Open sessions per client (`UploadLimits.openPerClient`), and whose each session is. */
  private readonly byClient = new Map<string, Set<string>>();
  private readonly clientOf = new Map<string, string>();

  constructor(
    private readonly driver: StorageDriver,
    private readonly blobs: BlobStore,
    private readonly policy: WritePolicy = writable,
    private readonly limits: UploadLimits = {},
  ) {}

  /** Starts a session; `client` (its address) is refused one past `openPerClient` sessions that are neither finished nor purged. */
  async start(name: string, algorithm: Algorithm = "sha256", client?: string): Promise<string> {
    this.policy.write();
    const id = randomUUID();
    if (client !== undefined && this.limits.openPerClient !== undefined) this.countFor(client, id, this.limits.openPerClient);
    const startedAt = new Date();
    if (this.driver.capabilities.exclusive) {
      if (this.fresh.size >= maxFreshSessions) this.evictFresh();
      this.fresh.set(id, { name, startedAt });
    } else {
      await this.persist(name, id, startedAt);
    }
    this.remember(id, { algorithm, hash: await this.newHash(algorithm), hashed: 0 });
    return id;
  }

  /**
   * Upload purging: deletes the sessions started before `olderThan`, in storage and in memory,
   * leaving alone any that a request is using.
   */
  async purge(olderThan: Date, dryRun = false): Promise<PurgeResult> {
    const forgotten = dryRun ? [] : this.purgeFresh(olderThan);
    const claim = {
      tryClaim: (id: string) => !this.busy.has(id) && (this.busy.add(id), true),
      release: (id: string) => {
        this.busy.delete(id);
        this.live.delete(id);
      },
    };
    const result = await purgeUploads(this.driver, olderThan, dryRun, claim);
    if (!dryRun) for (const path of [...forgotten, ...result.purged]) this.uncount(path.slice(path.lastIndexOf("/") + 1));
    return { ...result, purged: [...forgotten, ...result.purged] };
  }

  private countFor(client: string, id: string, max: number): void {
    let open = this.byClient.get(client);
    if (open === undefined) this.byClient.set(client, (open = new Set()));
    if (open.size >= max) {
      throw new RegistryError("TOOMANYREQUESTS", `${client} has ${open.size} uploads open, the most one client may have (lading.limits.openuploads): finish or cancel some, or wait for upload purging`, {
        headers: { "Retry-After": "60" },
      });
    }
    open.add(id);
    this.clientOf.set(id, client);
  }

  private uncount(id: string): void {
    const client = this.clientOf.get(id);
    if (client === undefined) return;
    this.clientOf.delete(id);
    const open = this.byClient.get(client);
    open?.delete(id);
    if (open?.size === 0) this.byClient.delete(client);
  }

  /** Forgets sessions held in memory that started before `olderThan` (storage has its own purge). */
  purgeFresh(olderThan: Date): string[] {
    const purged: string[] = [];
    for (const [id, session] of this.fresh) {
      if (session.startedAt >= olderThan || this.busy.has(id)) continue;
      this.fresh.delete(id);
      this.live.delete(id);
      purged.push(`${session.name}/${id}`);
    }
    return purged;
  }

  /** Forgets the oldest session held in memory that no request is using. */
  private evictFresh(): void {
    for (const id of this.fresh.keys()) {
      if (this.busy.has(id)) continue;
      this.fresh.delete(id);
      this.live.delete(id);
      this.uncount(id);
      return;
    }
  }

  /** Writes every session held in memory to storage (at shutdown: a restart keeps them). */
  async persistFresh(): Promise<void> {
    for (const [id, session] of [...this.fresh]) await this.materialize(session.name, id);
  }

  /** Losing a new session in a crash costs the client a restart of its upload, never data. */
  private async persist(name: string, id: string, startedAt: Date): Promise<void> {
    await putLossy(this.driver, uploadStartedAtPath(name, id), Buffer.from(startedAt.toISOString()));
  }

  /** Writes a session held in memory to storage, before its first byte is. */
  private async materialize(name: string, id: string): Promise<void> {
    const session = this.fresh.get(id);
    if (!session) return;
    await this.persist(name, id, session.startedAt);
    this.fresh.delete(id);
  }

  /** The number of bytes received so far. */
  async offset(name: string, id: string): Promise<number> {
    this.checkId(id);
    // A request still closing may yet move the offset: the answer waits for it, so a client never resumes from a stale one.
    await this.writing.get(id);
    if (this.isFresh(name, id)) return 0;
    try {
      return (await this.driver.stat(uploadDataPath(name, id))).size;
    } catch (err) {
      if (!isPathNotFound(err)) throw err;
    }
    await this.ensureExists(name, id);
    if (this.driver.capabilities.exclusive) return 0;
    // An object store shows an upload's bytes only once committed: its writer knows how many there are.
    const writer = await this.driver.writer(uploadDataPath(name, id), { append: true });
    const size = writer.size;
    writer.stream.end();
    await writer.close();
    return size;
  }

  /** Appends a chunk. */
  async append(name: string, id: string, body: Readable, claim: ChunkClaim): Promise<Received> {
    this.policy.write();
    return this.exclusive(id, async () => {
      await this.ensureExists(name, id);
      await this.materialize(name, id);
      const writer = await this.driver.writer(uploadDataPath(name, id), { append: true });
      let received: number;
      try {
        received = await this.receive(name, id, writer, body, claim);
      } catch (err) {
        await writer.close();
        // Nothing is kept of an upload refused for its size or for lack of room.
        if (isTooLarge(err) || isStorageFull(err)) await this.discard(name, id);
        throw err;
      }
      await writer.close();
      await this.saveHash(name, id, writer.size);
      return { size: writer.size, received };
    });
  }

  /** A single-request upload (POST ?digest=): a session only when the body is not small. */
  async putWhole(name: string, digest: Digest, body: Readable, claim: ChunkClaim): Promise<Received> {
    this.policy.write();
    if (isSmall(claim)) return this.storeSmall(name, digest, body, claim.length);
    const id = await this.start(name, digest.algorithm);
    return this.complete(name, id, digest, body, claim);
  }

  /** Finishes an upload: receives the last chunk, verifies the digest, and moves the blob into place. */
  async complete(name: string, id: string, digest: Digest, body: Readable | undefined, claim: ChunkClaim): Promise<Received> {
    this.policy.write();
    return this.exclusive(id, async () => {
      await this.ensureExists(name, id);
      if (body && isSmall(claim) && this.live.get(id)?.hashed === 0) {
        // Nothing stored yet and the whole blob in this request: no upload file to write and sync.
        try {
          return await this.storeSmall(name, digest, body, claim.length);
        } finally {
          await this.discard(name, id);
        }
      }
      await this.materialize(name, id);
      const dataPath = uploadDataPath(name, id);
      const writer = await this.driver.writer(dataPath, { append: true });
      let received: number;
      try {
        received = await this.receive(name, id, writer, body ?? Readable.from([]), claim);
        await writer.commit();
      } catch (err) {
        await writer.close();
        // Nothing is kept of an upload refused for its size or for lack of room.
        if (isTooLarge(err) || isStorageFull(err)) await this.discard(name, id);
        throw err;
      }
      const actual = await this.digestOf(id, dataPath, writer.size, digest.algorithm);
      if (actual !== digest.hex) {
        await this.discard(name, id);
        throw digestMismatch(digest, actual);
      }
      await this.blobs.adopt(dataPath, digest, writer.size, name);
      await this.discard(name, id);
      return { size: writer.size, received };
    });
  }

  async cancel(name: string, id: string): Promise<void> {
    this.policy.write();
    await this.exclusive(id, async () => {
      await this.ensureExists(name, id);
      await this.discard(name, id);
    });
  }

  /**
   * Reads a small body of known length whole, verifies it, and stores it and its link in one
   * durable batch (the bytes go through the journal: no file of their own to sync).
   */
  private async storeSmall(name: string, digest: Digest, body: Readable, length: number): Promise<Received> {
    if (length > (this.limits.maxBlobSize ?? Infinity)) {
      body.resume();
      throw tooLarge(this.limits.maxBlobSize!);
    }
    const chunks: Buffer[] = [];
    let received = 0;
    for await (const chunk of body) {
      received += (chunk as Buffer).length;
      if (received > length) throw new RegistryError("SIZE_INVALID", `more than the ${length} bytes of Content-Length arrived`);
      chunks.push(chunk as Buffer);
    }
    if (received !== length) throw new RegistryError("SIZE_INVALID", `Content-Length announced ${length} bytes but ${received} arrived`);
    const content = Buffer.concat(chunks, length);
    const actual = newHash(digest.algorithm).update(content).digest("hex");
    if (actual !== digest.hex) throw digestMismatch(digest, actual);
    await this.blobs.put(name, digest, content);
    return { size: length, received };
  }

  /** Streams a chunk into the writer, hashing it on the way when the live hash is in step; returns its length. */
  private async receive(name: string, id: string, writer: FileWriter, body: Readable, claim: ChunkClaim): Promise<number> {
    const offset = writer.size;
    if (claim.start !== undefined && claim.start !== offset) {
      body.resume();
      throw rangeError(offset, `chunk starts at ${claim.start} but the upload is at ${offset}`);
    }
    if (claim.start !== undefined && claim.end !== undefined && claim.length !== undefined && claim.end - claim.start + 1 !== claim.length) {
      body.resume();
      throw rangeError(offset, `Content-Range ${claim.start}-${claim.end} does not match Content-Length ${claim.length}`);
    }
    let live = this.live.get(id);
    if (live?.hashed !== offset) {
      // Another replica may have taken the chunks since: go on from the state it saved.
      const found = offset === 0 ? { algorithm: "sha256" as const, hash: await this.newHash("sha256"), hashed: 0 } : await this.loadHash(name, id, offset);
      if (found !== undefined) this.remember(id, (live = found));
    }
    const hashing = live !== undefined && live.hashed === offset;
    // A blob over the limit: refused before its bytes when their number is announced, cut off when it is not.
    const room = (this.limits.maxBlobSize ?? Infinity) - offset;
    if (claim.length !== undefined && claim.length > room) {
      body.resume();
      throw tooLarge(this.limits.maxBlobSize!);
    }
    let received = 0;
    // A listener beside the pipe sees every chunk the writer gets, in order: no Transform stream
    // (and its per-chunk bookkeeping) between the socket and the file.
    const hash = hashing ? live!.hash : undefined;
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      hash?.update(chunk);
      if (received > room) body.destroy(tooLarge(this.limits.maxBlobSize!));
    };
    body.on("data", onData);
    try {
      await pour(body, writer.stream);
    } catch (err) {
      // Some of the bytes may have reached storage and the hash may be ahead of them: rebuild later.
      this.live.delete(id);
      throw err;
    } finally {
      body.off("data", onData);
    }
    if (hashing) live!.hashed += received;
    else this.live.delete(id);
    if (claim.start !== undefined && claim.end !== undefined && claim.end - claim.start + 1 !== received) {
      throw new RegistryError("SIZE_INVALID", `Content-Range ${claim.start}-${claim.end} announced ${claim.end - claim.start + 1} bytes but ${received} arrived`);
    }
    return received;
  }

  /** The hex digest of the upload's bytes, from the live hash or, when that is gone, from storage. */
  private async digestOf(id: string, dataPath: string, size: number, algorithm: Algorithm): Promise<string> {
    const live = this.live.get(id);
    if (live && live.algorithm === algorithm && live.hashed === size) return live.hash.hex();
    const hash = newHash(algorithm);
    if (size > 0) {
      for await (const chunk of await this.driver.reader(dataPath, { start: 0, end: size - 1 })) hash.update(chunk as Buffer);
    }
    return hash.digest("hex");
  }

  /** An upload that comes back after a crash is only garbage for purging: no sync needed. */
  private async discard(name: string, id: string): Promise<void> {
    this.live.delete(id);
    this.uncount(id);
    if (this.fresh.delete(id)) return;
    await deleteIfExists(this.driver, uploadPath(name, id), { lossy: true });
  }

  private isFresh(name: string, id: string): boolean {
    return this.fresh.get(id)?.name === name;
  }

  private async ensureExists(name: string, id: string): Promise<void> {
    this.checkId(id);
    if (this.isFresh(name, id)) return;
    try {
      await this.driver.stat(uploadStartedAtPath(name, id));
    } catch (err) {
      if (isPathNotFound(err)) throw new RegistryError("BLOB_UPLOAD_UNKNOWN", undefined, { detail: { uuid: id } });
      throw err;
    }
  }

  private checkId(id: string): void {
    if (!idRe.test(id)) throw new RegistryError("BLOB_UPLOAD_UNKNOWN", undefined, { detail: { uuid: id } });
  }

  /** The native hash where this process owns the store; a resumable one where replicas share it. */
  private newHash(algorithm: Algorithm): Promise<UploadHash> | UploadHash {
    return this.driver.capabilities.exclusive ? nativeHash(algorithm) : resumableHash(algorithm);
  }

  /** Keeps a resumable hash's state with the upload, so that any replica can take the next request. */
  private async saveHash(name: string, id: string, size: number): Promise<void> {
    const live = this.live.get(id);
    const state = live?.hashed === size ? live.hash.save() : undefined;
    if (state !== undefined) await this.driver.putContent(uploadHashStatePath(name, id, live!.algorithm, size), state);
  }

  /** The hash state another replica saved at `offset`, if it did. */
  private async loadHash(name: string, id: string, offset: number): Promise<LiveHash | undefined> {
    if (this.driver.capabilities.exclusive) return undefined;
    for (const algorithm of ["sha256", "sha512"] as const) {
      try {
        const state = await this.driver.getContent(uploadHashStatePath(name, id, algorithm, offset));
        return { algorithm, hash: await resumableHash(algorithm, state), hashed: offset };
      } catch (err) {
        if (!isPathNotFound(err)) throw err;
      }
    }
    return undefined;
  }

  private remember(id: string, live: LiveHash): void {
    if (this.live.size >= maxLiveHashes) {
      const oldest = this.live.keys().next();
      if (!oldest.done) this.live.delete(oldest.value);
    }
    this.live.set(id, live);
  }

  private async exclusive<T>(id: string, work: () => Promise<T>): Promise<T> {
    if (this.busy.has(id)) throw new RegistryError("BLOB_UPLOAD_INVALID", "another request is writing to this upload");
    this.busy.add(id);
    let release = (): void => {};
    this.writing.set(id, new Promise<void>((resolve) => (release = resolve)));
    try {
      return await work();
    } finally {
      this.busy.delete(id);
      this.writing.delete(id);
      release();
    }
  }
}

/** A whole body small enough to take in memory: a known length, and no Content-Range past its start. */
function isSmall(claim: ChunkClaim): claim is ChunkClaim & { length: number } {
  return claim.length !== undefined && claim.length <= smallBlobSize && (claim.start ?? 0) === 0 && (claim.end === undefined || claim.end === claim.length - 1);
}

function digestMismatch(digest: Digest, actualHex: string): RegistryError {
  return new RegistryError("DIGEST_INVALID", `digest ${digest.value} does not match the uploaded content (${digest.algorithm}:${actualHex})`, {
    detail: { digest: digest.value },
  });
}

function rangeError(offset: number, message: string): RegistryError {
  return new RegistryError("RANGE_INVALID", message, { headers: { Range: `0-${Math.max(offset - 1, 0)}` } });
}

/**
 * Streams a request body into a writer. Unlike pipeline, a failure of the writer (a full disk)
 * leaves the request undestroyed: its socket has yet to carry the error response. A body that
 * fails or ends early (the client went away) destroys the writer with its error.
 */
async function pour(body: Readable, dest: Writable): Promise<void> {
  void finished(body, { writable: false }).catch((err: unknown) => dest.destroy(err as Error));
  body.pipe(dest);
  try {
    await finished(dest);
  } finally {
    body.unpipe(dest);
  }
}
