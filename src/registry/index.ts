import type { StorageDriver } from "../storage/driver.js";
import { BlobStore } from "./blobs.js";
import { Catalog } from "./catalog.js";
import { ManifestStore, type ManifestOptions } from "./manifests.js";
import { ReferrerIndex } from "./referrers.js";
import { TagStore } from "./tags.js";
import { UploadStore } from "./uploads.js";
import { WritePolicy } from "./write-policy.js";
import { coherenceFor } from "./coherence.js";
import { ImmutableTags, type TagRule } from "./tag-rules.js";

export interface RegistryOptions extends ManifestOptions {
  /** Whether blobs, manifests and tags may be deleted. */
  deleteEnabled: boolean;
  /** Refuse every write (maintenance mode). */
  readOnly: boolean;
  /** Send blob downloads to the store itself where the driver can make a URL for them. */
  redirect?: boolean;
  /** Tags that, once they exist, are never moved or removed (`lading.tags.immutable`). */
  immutableTags?: readonly TagRule[];
}

/** The registry's semantics over one storage driver: what the HTTP routes call. */
export class Registry {
  readonly blobs: BlobStore;
  readonly uploads: UploadStore;
  readonly tags: TagStore;
  readonly manifests: ManifestStore;
  readonly catalog: Catalog;

  constructor(
    readonly driver: StorageDriver,
    readonly options: RegistryOptions,
  ) {
    const policy = new WritePolicy(options);
    const coherence = coherenceFor(driver);
    this.blobs = new BlobStore(driver, policy, coherence);
    this.uploads = new UploadStore(driver, this.blobs, policy);
    this.tags = new TagStore(driver, policy, coherence, new ImmutableTags(options.immutableTags));
    this.catalog = new Catalog(driver, coherence);
    this.manifests = new ManifestStore(driver, this.blobs, this.tags, new ReferrerIndex(driver), this.catalog, options, policy, coherence);
  }

  repositories(): Promise<string[]> {
    return this.catalog.list();
  }
}
