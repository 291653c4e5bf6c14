import type { Digest } from "../oci/digest.js";
import { RegistryError } from "../oci/errors.js";
import { isPathNotFound, type Mutation, type Source, type StorageDriver } from "../storage/driver.js";
import { blobDataPath, layerLinkDirPath, layerLinkPath } from "../storage/paths.js";
import { deleteIfExists, linkMutation, readLink, writeLink } from "./links.js";
import { byKey, keyBytes, Lru } from "./lru.js";
import { writable, type WritePolicy } from "./write-policy.js";
import { coherenceFor, ExpiringLru, type Coherence } from "./coherence.js";
import { openSource, writeAll } from "../storage/ops.js";
import { CollectionGuard, type UseGuard } from "./collection-guard.js";

/** How long a redirect URL stays valid (registry:2's s3 driver: 20 minutes). */
const redirectSeconds = 20 * 60;

/** Blobs up to this size are read whole and kept in memory. */
export const smallBlobSize = 64 << 10;

/**
 * Blobs: content-addressed bytes shared by all repositories, and the per-repository links that
 * make a blob part of a repository. A blob is only ever written by moving a verified upload (or a
 * verified manifest body) into place, so anything under blobs/ is complete and correct.
 *
 * Storage is the truth; the caches hold only what this process has seen exist, as long as
 * `coherence` lets them (coherence.ts). Contents are immutable by digest; a link is forgotten when
 * this process unlinks it, a blob when a garbage collection deletes it. Every use of a digest
 * tells `guard` first, so a collection running meanwhile keeps it (collection-guard.ts).
 */
export class BlobStore {
  private readonly sizes: ExpiringLru<string, number>;
  private readonly links: ExpiringLru<string, true>;
  private readonly contents = new Lru<string, Buffer>(12 << 20, (b, key) => b.length + keyBytes(key) + 64);

  constructor(
    private readonly driver: StorageDriver,
    private readonly policy: WritePolicy = writable,
    private readonly coherence: Coherence = coherenceFor(driver),
    readonly guard: UseGuard = new CollectionGuard(),
  ) {
    this.sizes = new ExpiringLru<string, number>(2 << 20, byKey, coherence.existenceMs);
    this.links = new ExpiringLru<string, true>(2 << 20, byKey, coherence.existenceMs);
  }

  /** Size of a stored blob, or undefined. */
  async size(digest: Digest): Promise<number | undefined> {
    const deleting = this.guard.touch(digest.value);
    if (deleting) await deleting;
    const known = this.sizes.get(digest.value);
    if (known !== undefined) return known;
    const epoch = this.guard.epoch;
    try {
      const info = await this.driver.stat(blobDataPath(digest));
      if (info.isDir) return undefined;
      if (this.guard.epoch === epoch) this.sizes.set(digest.value, info.size);
      return info.size;
    } catch (err) {
      if (isPathNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Size of a blob linked into the repository, or undefined when either part is missing. */
  async sizeIn(name: string, digest: Digest): Promise<number | undefined> {
    const deleting = this.guard.touch(digest.value);
    if (deleting) await deleting;
    const key = `${name}\n${digest.value}`;
    const known = this.links.get(key) === true;
    const epoch = this.guard.epoch;
    if (!known) {
      const linked = await readLink(this.driver, layerLinkPath(name, digest));
      if (!linked || linked.value !== digest.value) return undefined;
    }
    const size = await this.size(digest);
    if (size !== undefined && !known && this.guard.epoch === epoch) this.links.set(key, true);
    return size;
  }

  async isLinked(name: string, digest: Digest): Promise<boolean> {
    return (await this.sizeIn(name, digest)) !== undefined;
  }

  /** Links a stored blob into a repository (a mount); false when the blob is not stored. */
  async link(name: string, digest: Digest): Promise<boolean> {
    this.policy.write();
    return this.guard.writing(async () => {
      do {
        if ((await this.size(digest)) === undefined) return false;
      } while (!(await this.guard.committing()));
      if (!this.knownLink(`${name}\n${digest.value}`)) await writeLink(this.driver, layerLinkPath(name, digest), digest);
      return true;
    });
  }

  /** Removes a blob from a repository (the bytes stay until garbage collection). */
  async unlink(name: string, digest: Digest): Promise<void> {
    this.policy.remove();
    if ((await this.sizeIn(name, digest)) === undefined) throw new RegistryError("BLOB_UNKNOWN", undefined, { detail: { digest: digest.value } });
    this.links.delete(`${name}\n${digest.value}`);
    await deleteIfExists(this.driver, layerLinkDirPath(name, digest));
  }

  /**
   * A URL from which a client may download the blob straight from the store for a while, when the
   * driver can make one (a presigned URL); undefined otherwise.
   */
  async redirect(digest: Digest): Promise<string | undefined> {
    return this.driver.capabilities.redirect?.(blobDataPath(digest), redirectSeconds);
  }

  /** Opens a blob's bytes for sending into one response. */
  async source(digest: Digest, range?: { start: number; end: number }): Promise<Source> {
    return openSource(this.driver, blobDataPath(digest), range);
  }

  /** Reads a small blob whole (manifests, configs, small layers); undefined when missing. */
  async read(digest: Digest): Promise<Buffer | undefined> {
    const deleting = this.guard.touch(digest.value);
    if (deleting) await deleting;
    const cached = this.contents.get(digest.value);
    if (cached) return cached;
    const epoch = this.guard.epoch;
    let content: Buffer;
    try {
      content = await this.driver.getContent(blobDataPath(digest));
    } catch (err) {
      if (isPathNotFound(err)) return undefined;
      throw err;
    }
    if (this.guard.epoch !== epoch) return content;
    if (content.length <= smallBlobSize) this.contents.set(digest.value, content);
    this.sizes.set(digest.value, content.length);
    return content;
  }

  /**
   * Moves a verified upload of `size` bytes into place and links it into `name`, in one durable
   * batch (the move first, so the link never names a missing blob); a concurrent identical move is
   * harmless.
   */
  async adopt(source: string, digest: Digest, size: number, name: string): Promise<void> {
    await this.storeAndLink(name, digest, size, [{ op: "move", source, dest: blobDataPath(digest) }]);
  }

  /** Stores small verified content and links it into `name`, in one durable batch. */
  async put(name: string, digest: Digest, content: Uint8Array): Promise<void> {
    await this.storeAndLink(name, digest, content.byteLength, this.writeMutations(digest, content));
  }

  /** Writes what stores a blob, then its link into `name` (unless known), as one durable batch. */
  private async storeAndLink(name: string, digest: Digest, size: number, storing: Mutation[]): Promise<void> {
    await this.guard.writing(async () => {
      const deleting = this.guard.touch(digest.value);
      if (deleting) await deleting;
      // What is stored here needs no check: only that a collection deleting it is over.
      const committing = this.guard.committing();
      if (committing !== true) await committing;
      const key = `${name}\n${digest.value}`;
      const mutations = this.knownLink(key) ? storing : [...storing, linkMutation(layerLinkPath(name, digest), digest)];
      await writeAll(this.driver, mutations);
      this.sizes.set(digest.value, size);
      this.links.set(key, true);
    });
  }

  /**
   * What storing small verified content under its digest takes: nothing when this process knows
   * it stored, on a store of its own (coherence.ts). Otherwise the bytes are written, even over the same bytes: a put is a journal
   * append, cheaper than asking storage first (most such content is new).
   */
  writeMutations(digest: Digest, content: Uint8Array): Mutation[] {
    if (this.coherence.skipKnownWrites && this.sizes.get(digest.value) === content.byteLength) return [];
    return [{ op: "put", path: blobDataPath(digest), content }];
  }

  /** Whether writing the link `key` (`name\ndigest`) may be left out: this process knows it is stored (coherence.ts). */
  private knownLink(key: string): boolean {
    return this.coherence.skipKnownWrites && this.links.get(key) === true;
  }

  /** Forgets a blob a garbage collection deletes. */
  forget(digest: Digest): void {
    this.sizes.delete(digest.value);
    this.contents.delete(digest.value);
  }

  /** Forgets every blob and link (another process collected garbage). */
  forgetAll(): void {
    this.sizes.clear();
    this.links.clear();
    this.contents.clear();
  }

  /** Forgets a repository's link to a blob (a garbage collection deletes it). */
  forgetLink(name: string, digest: Digest): void {
    this.links.delete(`${name}\n${digest.value}`);
  }

  /** Records a blob stored through `writeMutations`. */
  stored(digest: Digest, size: number): void {
    this.sizes.set(digest.value, size);
  }
}
