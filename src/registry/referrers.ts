import type { Digest } from "../oci/digest.js";
import type { Descriptor } from "../oci/manifest.js";
import type { Mutation, StorageDriver } from "../storage/driver.js";
import { referrerLinkPath, referrersPath } from "../storage/paths.js";
import { deleteIfExists, linkMutation, listIfExists, readLink, writeLink } from "./links.js";
import { parseDigest } from "../oci/digest.js";

/** Which manifests of a repository name a subject: one link per (subject, referrer) pair. */
export class ReferrerIndex {
  constructor(private readonly driver: StorageDriver) {}

  async add(name: string, subject: Digest, referrer: Digest): Promise<void> {
    await writeLink(this.driver, referrerLinkPath(name, subject, referrer), referrer);
  }

  /** Adding a referrer, as a mutation for a driver batch. */
  addMutation(name: string, subject: Digest, referrer: Digest): Mutation {
    return linkMutation(referrerLinkPath(name, subject, referrer), referrer);
  }

  async remove(name: string, subject: Digest, referrer: Digest): Promise<void> {
    await deleteIfExists(this.driver, referrerLinkPath(name, subject, referrer).replace(/\/link$/, ""));
  }

  /** Digests of the manifests that name `subject`. */
  async list(name: string, subject: Digest): Promise<Digest[]> {
    const root = referrersPath(name, subject);
    const found: Digest[] = [];
    for (const algorithm of await listIfExists(this.driver, root)) {
      for (const hex of await listIfExists(this.driver, `${root}/${algorithm}`)) {
        const digest = parseDigest(`${algorithm}:${hex}`);
        if (!digest) continue;
        const linked = await readLink(this.driver, referrerLinkPath(name, subject, digest));
        if (linked) found.push(linked);
      }
    }
    return found;
  }
}

/** The descriptor a referrers response lists for a manifest (distribution-spec "Listing Referrers"). */
export function referrerDescriptor(mediaType: string, digest: Digest, size: number, artifactType: string | undefined, annotations: Record<string, string> | undefined): Descriptor {
  const descriptor: Descriptor = { mediaType, digest: digest.value, size };
  if (artifactType !== undefined) descriptor.artifactType = artifactType;
  if (annotations !== undefined) descriptor.annotations = annotations;
  return descriptor;
}
