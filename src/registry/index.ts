import type { StorageDriver } from "../storage/driver.js";
import { BlobStore } from "./blobs.js";
import { Catalog } from "./catalog.js";
import { ManifestStore, type ManifestOptions } from "./manifests.js";
import { ReferrerIndex } from "./referrers.js";
import { TagStore } from "./tags.js";
import { UploadStore, type UploadLimits } from "./uploads.js";
import { WritePolicy } from "./write-policy.js";
import { coherenceFor } from "./coherence.js";
import { ImmutableTags, type TagRule } from "./tag-rules.js";
import { CollectionGuard, type UseGuard } from "./collection-guard.js";
import { SharedCollectionGuard } from "./shared-collection.js";
import { defaultWindowMs } from "./gc.js";
import type { Mirror } from "../mirror/mirror.js";

export interface RegistryOptions extends ManifestOptions {
  /** Whether blobs, manifests and tags may be deleted. */
  deleteEnabled: boolean;
  /** Refuse every write (maintenance mode). */
  readOnly: boolean;
  /** Send blob downloads to the store itself where the driver can make a URL for them. */
  redirect?: boolean;
  /** Tags that, once they exist, are never moved or removed (`lading.tags.immutable`). */
  immutableTags?: readonly TagRule[];
  /** On a shared store: the garbage collection window (`lading.gc.window`, shared-collection.ts), in ms. */
  collectionWindowMs?: number;
  /** `lading.limits` for uploads. */
  uploadLimits?: UploadLimits;
  /** Where the registry reports trouble it meets in the background. */
  warn?: (message: string) => void;
}

/** The registry's semantics over one storage driver: what the HTTP routes call. */
export class Registry {
  readonly blobs: BlobStore;
  readonly uploads: UploadStore;
  readonly tags: TagStore;
  readonly manifests: ManifestStore;
  readonly catalog: Catalog;
  /** The pull-through cache, when repositories mirror upstream registries (set by the composition root). */
  mirror: Mirror | undefined;

  constructor(
    readonly driver: StorageDriver,
    readonly options: RegistryOptions,
  ) {
    const policy = new WritePolicy(options);
    const coherence = coherenceFor(driver);
    // What a garbage collection needs to know of this process's uses: in this process when it owns
    // the store; published in the store for the collectors of a shared one.
    const guard: UseGuard = driver.capabilities.exclusive
      ? new CollectionGuard()
      : new SharedCollectionGuard(driver, options.collectionWindowMs ?? defaultWindowMs, () => this.forgetAll(), options.warn);
    this.blobs = new BlobStore(driver, policy, coherence, guard);
    this.uploads = new UploadStore(driver, this.blobs, policy, options.uploadLimits);
    this.tags = new TagStore(driver, policy, coherence, new ImmutableTags(options.immutableTags));
    this.catalog = new Catalog(driver, coherence);
    this.manifests = new ManifestStore(driver, this.blobs, this.tags, new ReferrerIndex(driver), this.catalog, options, policy, coherence);
  }

  repositories(): Promise<string[]> {
    return this.catalog.list();
  }

  /** Forgets what the caches believe exists (another process collected garbage). */
  private forgetAll(): void {
    this.blobs.forgetAll();
    this.manifests.forgetAll();
  }

  /** Stops what the registry does in the background. */
  close(): void {
    if (this.blobs.guard instanceof SharedCollectionGuard) this.blobs.guard.stop();
  }
}
