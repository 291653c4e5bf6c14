import { parseDigest, type Digest } from "../oci/digest.js";
import type { StorageDriver } from "../storage/driver.js";
import { listIfExists } from "./links.js";
import { repositoriesRoot } from "../storage/paths.js";

/** Walks of registry:2's layout shared by the collector (gc.ts) and the checker (fsck.ts). */

export interface RepositoryDir {
  name: string;
  /** Whether it has `_manifests` (a repository for the catalog). */
  manifests: boolean;
  /** Whether it has `_layers`. */
  layers: boolean;
}

/** What a manifest's bytes name. */
export interface References {
  children: Digest[];
  blobs: Digest[];
  subject: Digest | undefined;
}

/** Every directory under `repositories/` holding `_manifests` or `_layers`, as registry:2 finds them. */
export async function walkRepositories(driver: StorageDriver): Promise<RepositoryDir[]> {
  const found: RepositoryDir[] = [];
  const walk = async (prefix: string): Promise<void> => {
    const children = await listIfExists(driver, prefix === "" ? repositoriesRoot : `${repositoriesRoot}/${prefix}`);
    if (prefix !== "" && (children.includes("_manifests") || children.includes("_layers"))) {
      found.push({ name: prefix, manifests: children.includes("_manifests"), layers: children.includes("_layers") });
    }
    for (const child of children) {
      if (!child.startsWith("_")) await walk(prefix === "" ? child : `${prefix}/${child}`);
    }
  };
  await walk("");
  return found;
}

/**
 * What a manifest names, from its JSON whatever its type (OCI and Docker images and indexes,
 * artifacts, schema 1): `manifests[]` are children; `config`, `layers[]`, `blobs[]` and schema 1's
 * `fsLayers[].blobSum` are blobs.
 */
export function referencesIn(json: unknown): References {
  const found: References = { children: [], blobs: [], subject: undefined };
  if (typeof json !== "object" || json === null || Array.isArray(json)) return found;
  const fields = json as Record<string, unknown>;
  const digestIn = (value: unknown, key = "digest"): Digest | undefined => {
    const text = typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;
    return typeof text === "string" ? parseDigest(text) : undefined;
  };
  const each = (list: unknown, into: Digest[], key = "digest"): void => {
    if (!Array.isArray(list)) return;
    for (const item of list) {
      const found = digestIn(item, key);
      if (found) into.push(found);
    }
  };
  each(fields.manifests, found.children);
  const config = digestIn(fields.config);
  if (config) found.blobs.push(config);
  each(fields.layers, found.blobs);
  each(fields.blobs, found.blobs);
  each(fields.fsLayers, found.blobs, "blobSum");
  found.subject = digestIn(fields.subject);
  return found;
}
