import { parseDigest, type Digest } from "../oci/digest.js";
import { isPathNotFound, type Mutation, type StorageDriver } from "../storage/driver.js";
import { deleteLossy } from "../storage/ops.js";

/** Reads a link file; undefined when it does not exist or is empty. A corrupt link is an error, not absence. */
export async function readLink(driver: StorageDriver, path: string): Promise<Digest | undefined> {
  let content: Buffer;
  try {
    content = await driver.getContent(path);
  } catch (err) {
    if (isPathNotFound(err)) return undefined;
    throw err;
  }
  // An empty link is what a crash can leave of one its writer had not synced yet: not there.
  if (content.length === 0) return undefined;
  const text = content.toString("utf8").trim();
  const digest = parseDigest(text);
  if (!digest) throw new Error(`corrupt link file ${path}: ${JSON.stringify(text.slice(0, 80))}`);
  return digest;
}

export async function writeLink(driver: StorageDriver, path: string, digest: Digest): Promise<void> {
  await driver.putContent(path, Buffer.from(digest.value, "utf8"));
}

/** Writing a link file, as a mutation for a driver batch. */
export function linkMutation(path: string, digest: Digest): Mutation {
  return { op: "put", path, content: Buffer.from(digest.value, "utf8") };
}

/** Deletes a path; true when something was there. */
export async function deleteIfExists(driver: StorageDriver, path: string, options: { lossy?: boolean } = {}): Promise<boolean> {
  try {
    await (options.lossy ? deleteLossy(driver, path) : driver.delete(path));
    return true;
  } catch (err) {
    if (isPathNotFound(err)) return false;
    throw err;
  }
}

/** Lists a directory; empty when it does not exist. */
export async function listIfExists(driver: StorageDriver, path: string): Promise<string[]> {
  try {
    return await driver.list(path);
  } catch (err) {
    if (isPathNotFound(err)) return [];
    throw err;
  }
}
