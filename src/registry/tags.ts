import type { Digest } from "../oci/digest.js";
import { RegistryError } from "../oci/errors.js";
import { isPathNotFound, type StorageDriver } from "../storage/driver.js";
import { manifestsPath, tagCurrentLinkPath, tagIndexLinkPath, tagPath, tagsPath } from "../storage/paths.js";
import { deleteIfExists, readLink, writeLink } from "./links.js";

/** Tags: `_manifests/tags/<tag>/current/link` names the manifest; `index/` keeps its history. */
export class TagStore {
  constructor(private readonly driver: StorageDriver) {}

  async resolve(name: string, tag: string): Promise<Digest | undefined> {
    return readLink(this.driver, tagCurrentLinkPath(name, tag));
  }

  /** Points a tag at a manifest; the index link is written first so a crash never leaves the current link unindexed. */
  async tag(name: string, tag: string, digest: Digest): Promise<void> {
    await writeLink(this.driver, tagIndexLinkPath(name, tag, digest), digest);
    await writeLink(this.driver, tagCurrentLinkPath(name, tag), digest);
  }

  async untag(name: string, tag: string): Promise<boolean> {
    return deleteIfExists(this.driver, tagPath(name, tag));
  }

  /** All tags, sorted; NAME_UNKNOWN when the repository has never held a manifest. */
  async list(name: string): Promise<string[]> {
    try {
      return await this.driver.list(tagsPath(name));
    } catch (err) {
      if (!isPathNotFound(err)) throw err;
    }
    try {
      await this.driver.stat(manifestsPath(name));
    } catch (err) {
      if (isPathNotFound(err)) throw new RegistryError("NAME_UNKNOWN", `repository ${name} not known to registry`, { detail: { name } });
      throw err;
    }
    return [];
  }

  /** Tags currently pointing at `digest`. */
  async tagsOf(name: string, digest: Digest): Promise<string[]> {
    const found: string[] = [];
    for (const tag of await this.list(name).catch(() => [])) {
      const current = await this.resolve(name, tag).catch(() => undefined);
      if (current?.value === digest.value) found.push(tag);
    }
    return found;
  }
}
