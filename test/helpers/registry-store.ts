/** Registry-level helpers: what tests of the registry over a driver (no HTTP) need. */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { digestOf, parseDigest, type Digest } from "../../src/oci/digest.js";
import type { Registry } from "../../src/registry/index.js";
import { isPathNotFound, type StorageDriver } from "../../src/storage/driver.js";
import { blobDataPath } from "../../src/storage/paths.js";

/** Uploads `content` (100 random bytes by default) into `name` as a blob; its digest. */
export async function blob(registry: Registry, name: string, content: Buffer = randomBytes(100)): Promise<Digest> {
  const digest = parseDigest(digestOf(content))!;
  await registry.uploads.complete(name, await registry.uploads.start(name), digest, Readable.from([content]), {});
  return digest;
}

/** Whether the store holds a blob's bytes. */
export async function stored(driver: StorageDriver, digest: Digest): Promise<boolean> {
  try {
    await driver.stat(blobDataPath(digest));
    return true;
  } catch (err) {
    if (isPathNotFound(err)) return false;
    throw err;
  }
}
