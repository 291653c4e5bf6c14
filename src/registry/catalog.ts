import type { StorageDriver } from "../storage/driver.js";
import { repositoriesRoot } from "../storage/paths.js";
import { listIfExists } from "./links.js";
import { insertSorted } from "./sorted.js";
import { coherenceFor, type Coherence } from "./coherence.js";

/**
 * The sorted repository names, walked from storage when first asked for (never at start) and then
 * kept up to date by this process's own pushes (repositories are never removed: registry:2 has no
 * such operation). On a shared store, a walk is believed for `coherence.catalogMs` (coherence.ts).
 */
export class Catalog {
  private names: Promise<string[]> | undefined;
  private walkedAt = 0;

  constructor(
    private readonly driver: StorageDriver,
    private readonly coherence: Coherence = coherenceFor(driver),
  ) {}

  list(): Promise<string[]> {
    if (this.names !== undefined && this.coherence.catalogMs !== Infinity && Date.now() - this.walkedAt > this.coherence.catalogMs) this.names = undefined;
    if (this.names === undefined) {
      this.walkedAt = Date.now();
      this.names = listRepositories(this.driver).catch((err: unknown) => {
        this.names = undefined;
        throw err;
      });
    }
    return this.names;
  }

  /** Records that `name` holds a manifest. */
  async add(name: string): Promise<void> {
    if (!this.names) return;
    const names = await this.names;
    if (!names.includes(name)) this.names = Promise.resolve(insertSorted(names, name));
  }
}

/**
 * Repository names, found as registry:2 finds them: a directory holding `_manifests` is a
 * repository; directories starting with `_` are never descended into.
 */
export async function listRepositories(driver: StorageDriver): Promise<string[]> {
  const names: string[] = [];
  const walk = async (prefix: string): Promise<void> => {
    const children = await listIfExists(driver, prefix === "" ? repositoriesRoot : `${repositoriesRoot}/${prefix}`);
    if (prefix !== "" && children.includes("_manifests")) names.push(prefix);
    for (const child of children) {
      if (child.startsWith("_")) continue;
      await walk(prefix === "" ? child : `${prefix}/${child}`);
    }
  };
  await walk("");
  return names.sort();
}

