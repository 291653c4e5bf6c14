import type { Readable } from "node:stream";
import type { Digest } from "../oci/digest.js";
import { RegistryError } from "../oci/errors.js";
import { isPathNotFound, type StorageDriver } from "../storage/driver.js";
import { blobDataPath, layerLinkDirPath, layerLinkPath } from "../storage/paths.js";
import { deleteIfExists, readLink, writeLink } from "./links.js";

/**
 * Blobs: content-addressed bytes shared by all repositories, and the per-repository links that
 * make a blob part of a repository. A blob is only ever written by moving a verified upload (or a
 * verified manifest body) into place, so anything under blobs/ is complete and correct.
 */
export class BlobStore {
  constructor(private readonly driver: StorageDriver) {}

  /** Size of a stored blob, or undefined. */
  async size(digest: Digest): Promise<number | undefined> {
    try {
      const info = await this.driver.stat(blobDataPath(digest));
      return info.isDir ? undefined : info.size;
    } catch (err) {
      if (isPathNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Size of a blob linked into the repository, or undefined when either part is missing. */
  async sizeIn(name: string, digest: Digest): Promise<number | undefined> {
    const linked = await readLink(this.driver, layerLinkPath(name, digest));
    if (!linked || linked.value !== digest.value) return undefined;
    return this.size(digest);
  }

  async isLinked(name: string, digest: Digest): Promise<boolean> {
    return (await this.sizeIn(name, digest)) !== undefined;
  }

  async link(name: string, digest: Digest): Promise<void> {
    await writeLink(this.driver, layerLinkPath(name, digest), digest);
  }

  /** Removes a blob from a repository (the bytes stay until garbage collection). */
  async unlink(name: string, digest: Digest): Promise<void> {
    if ((await this.sizeIn(name, digest)) === undefined) throw new RegistryError("BLOB_UNKNOWN", undefined, { detail: { digest: digest.value } });
    await deleteIfExists(this.driver, layerLinkDirPath(name, digest));
  }

  async open(digest: Digest, range?: { start: number; end: number }): Promise<Readable> {
    return this.driver.reader(blobDataPath(digest), range);
  }

  /** Reads a small blob whole (manifests, configs); undefined when missing. */
  async read(digest: Digest): Promise<Buffer | undefined> {
    try {
      return await this.driver.getContent(blobDataPath(digest));
    } catch (err) {
      if (isPathNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Stores small verified content (a manifest body) under its digest. */
  async write(digest: Digest, content: Uint8Array): Promise<void> {
    if ((await this.size(digest)) === content.byteLength) return;
    await this.driver.putContent(blobDataPath(digest), content);
  }

  /** Moves a verified upload into place; content addressing makes a concurrent identical move harmless. */
  async adopt(source: string, digest: Digest): Promise<void> {
    await this.driver.move(source, blobDataPath(digest));
  }
}
