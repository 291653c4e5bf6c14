import { digestOf, parseDigest, type Digest } from "../oci/digest.js";
import { RegistryError, type ErrorBody } from "../oci/errors.js";
import { parseManifest, type Descriptor, type ParsedManifest } from "../oci/manifest.js";
import { mediaTypes } from "../oci/mediatypes.js";
import type { StorageDriver } from "../storage/driver.js";
import { revisionDirPath, revisionLinkPath } from "../storage/paths.js";
import type { BlobStore } from "./blobs.js";
import { deleteIfExists, linkMutation, readLink } from "./links.js";
import { byKey, keyBytes, Lru } from "./lru.js";
import { referrerDescriptor, type ReferrerIndex } from "./referrers.js";
import type { TagStore } from "./tags.js";
import type { Catalog } from "./catalog.js";
import { tagHold } from "./collection-guard.js";
import { writable, type WritePolicy } from "./write-policy.js";
import { coherenceFor, ExpiringLru, type Coherence } from "./coherence.js";

export interface StoredManifest {
  digest: Digest;
  mediaType: string;
  body: Buffer;
  /** What serving and listing it need: the blobs it names are checked when it is put, and not kept. */
  parsed: ManifestFacts;
}

export type ManifestFacts = Omit<ParsedManifest, "blobs">;

function factsOf(parsed: ParsedManifest): ManifestFacts {
  const { blobs, ...facts } = parsed;
  void blobs;
  return facts;
}

export interface ManifestOptions {
  /** Largest manifest accepted, in bytes. */
  maxSize: number;
  /** Whether an index's manifests must be in the repository (otherwise "sparse" indexes are allowed). */
  requireIndexChildren: boolean;
  /** Whether an image manifest's config and distributable layers must be in the repository. */
  requireBlobs: boolean;
}

/** A reference as it appears in a manifest URL: a tag or a digest. */
export type ManifestReference = { tag: string } | { digest: Digest };

export class ManifestStore {
  /**
   * digest → stored manifest; content addressing makes every entry forever correct. A manifest's
   * parsed facts and digest cost about a kilobyte beside its bytes.
   */
  private readonly cache = new Lru<string, StoredManifest>(6 << 20, (m, key) => m.body.length + keyBytes(key) + 1024);
  /** `name\ndigest` of revisions this process has seen in a repository; forgotten when it deletes one. */
  private readonly revisions: ExpiringLru<string, true>;
  private readonly skipKnownWrites: boolean;

  constructor(
    private readonly driver: StorageDriver,
    private readonly blobs: BlobStore,
    private readonly tags: TagStore,
    private readonly referrerIndex: ReferrerIndex,
    private readonly catalog: Catalog,
    private readonly options: ManifestOptions,
    private readonly policy: WritePolicy = writable,
    coherence: Coherence = coherenceFor(driver),
  ) {
    this.revisions = new ExpiringLru<string, true>(2 << 20, byKey, coherence.existenceMs);
    this.skipKnownWrites = coherence.skipKnownWrites;
  }

  /** Stores a manifest; `how.sparse` (a mirror's cached copy) leaves out the check that what it names is here. */
  async put(name: string, reference: ManifestReference, body: Buffer, contentType: string | undefined, extraTags: string[], how: { sparse?: boolean } = {}): Promise<StoredManifest> {
    this.policy.write();
    if (body.length > this.options.maxSize) {
      throw new RegistryError("MANIFEST_INVALID", `manifest is ${body.length} bytes; the limit is ${this.options.maxSize}`, { status: 413 });
    }
    const algorithm = "digest" in reference ? reference.digest.algorithm : "sha256";
    const digest = parseDigest(digestOf(body, algorithm))!;
    if ("digest" in reference && reference.digest.value !== digest.value) {
      throw new RegistryError("DIGEST_INVALID", `manifest digest is ${digest.value}, not ${reference.digest.value}`, { detail: { digest: reference.digest.value } });
    }
    const parsed = parseManifest(body, contentType);
    await this.blobs.guard.writing(async () => {
      // Held before anything is checked or skipped: a garbage collection running meanwhile keeps it.
      const tags = "tag" in reference ? [...new Set([reference.tag, ...extraTags])] : [...new Set(extraTags)];
      const held = this.blobs.guard.hold([...[digest, ...parsed.blobs, ...parsed.manifests].map((d) => d.value), ...tags.map((tag) => tagHold(name, tag))]);
      if (held) await held;
      for (;;) {
        if (how.sparse !== true) await this.checkReferences(name, parsed);
        const committing = this.blobs.guard.committing();
        if (committing === true || (await committing)) break;
      }

      // One durable batch: the bytes, the revision link, the referrer link, then every tag.
      const prior = this.blobs.writeMutations(digest, body);
      const revision = `${name}\n${digest.value}`;
      if (!(this.skipKnownWrites && this.revisions.get(revision))) prior.push(linkMutation(revisionLinkPath(name, digest), digest));
      if (parsed.subject) prior.push(this.referrerIndex.addMutation(name, parsed.subject, digest));
      await this.tags.tagWith(name, tags, digest, prior);
      this.blobs.stored(digest, body.length);
      this.revisions.set(revision, true);
    });
    await this.catalog.add(name);

    const stored = { digest, mediaType: parsed.mediaType, body, parsed: factsOf(parsed) };
    this.cache.set(digest.value, stored);
    return stored;
  }

  async get(name: string, reference: ManifestReference): Promise<StoredManifest> {
    const digest = "tag" in reference ? await this.tags.resolve(name, reference.tag) : reference.digest;
    const unknown = () => new RegistryError("MANIFEST_UNKNOWN", undefined, { detail: "tag" in reference ? { tag: reference.tag } : { digest: reference.digest.value } });
    if (!digest) throw unknown();
    const stored = await this.load(name, digest);
    if (!stored) throw unknown();
    return stored;
  }

  /** Deletes a manifest from a repository, with every tag that points at it; returns those tags. */
  async delete(name: string, digest: Digest): Promise<string[]> {
    this.policy.remove();
    const stored = await this.load(name, digest);
    if (!stored) throw new RegistryError("MANIFEST_UNKNOWN", undefined, { detail: { digest: digest.value } });
    const tags = await this.tags.tagsOf(name, digest);
    // Nothing is removed when one of its tags may not be.
    for (const tag of tags) this.tags.refuseImmutable(name, tag, `deleted with manifest ${digest.value}`);
    for (const tag of tags) await this.tags.untag(name, tag);
    this.revisions.delete(`${name}\n${digest.value}`);
    await deleteIfExists(this.driver, revisionDirPath(name, digest));
    if (stored.parsed.subject) await this.referrerIndex.remove(name, stored.parsed.subject, digest);
    return tags;
  }

  /** Descriptors of the manifests in `name` whose subject is `subject`, optionally of one artifactType. */
  async referrers(name: string, subject: Digest, artifactType?: string): Promise<Descriptor[]> {
    const found: Descriptor[] = [];
    const digests = new Map<string, Digest>();
    for (const digest of [...(await this.referrerIndex.list(name, subject)), ...(await this.taggedReferrers(name, subject))]) digests.set(digest.value, digest);
    for (const digest of digests.values()) {
      const stored = await this.load(name, digest);
      if (!stored || stored.parsed.subject?.value !== subject.value) continue;
      const type = stored.parsed.artifactType;
      if (artifactType !== undefined && type !== artifactType) continue;
      found.push(referrerDescriptor(stored.mediaType, digest, stored.body.length, type, stored.parsed.annotations));
    }
    return found.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  }

  /**
   * Referrers pushed before the referrers API existed, listed by clients in an index tagged with the
   * referrers tag schema (`<alg>-<hex>`); the spec requires them in the API's answer too.
   */
  private async taggedReferrers(name: string, subject: Digest): Promise<Digest[]> {
    const tag = `${subject.algorithm.slice(0, 32)}-${subject.hex.slice(0, 64)}`;
    const digest = await this.tags.resolve(name, tag).catch(() => undefined);
    const index = digest ? await this.load(name, digest) : undefined;
    if (!index || index.parsed.kind !== "index") return [];
    return index.parsed.manifests;
  }

  /** Whether the repository holds the manifest (its revision link exists). */
  private async has(name: string, digest: Digest): Promise<boolean> {
    const guard = this.blobs.guard;
    const deleting = guard.touch(digest.value);
    if (deleting) await deleting;
    const revision = `${name}\n${digest.value}`;
    if (this.revisions.get(revision)) return true;
    const epoch = guard.epoch;
    const linked = await readLink(this.driver, revisionLinkPath(name, digest));
    if (!linked || linked.value !== digest.value) return false;
    if (guard.epoch === epoch) this.revisions.set(revision, true);
    return true;
  }

  /** Forgets every revision and manifest (another process collected garbage). */
  forgetAll(): void {
    this.revisions.clear();
    this.cache.clear();
  }

  /** Forgets a repository's revision of a manifest (a garbage collection deletes it). */
  forgetRevision(name: string, digest: Digest): void {
    this.revisions.delete(`${name}\n${digest.value}`);
  }

  /** A manifest of the repository by digest, or undefined when the repository does not hold it. */
  private async load(name: string, digest: Digest): Promise<StoredManifest | undefined> {
    if (!(await this.has(name, digest))) return undefined;
    const cached = this.cache.get(digest.value);
    if (cached) return cached;
    const body = await this.blobs.read(digest);
    if (!body) return undefined;
    const stored = { digest, body, ...readStored(body) };
    this.cache.set(digest.value, stored);
    return stored;
  }

  /**
   * Every blob and child manifest a manifest names must be in the repository: one
   * MANIFEST_BLOB_UNKNOWN per missing one (distribution-spec "Push"; up to maxMissingReported), and
   * for a missing child manifest also MANIFEST_UNKNOWN, which says what kind of thing is missing.
   */
  private async checkReferences(name: string, parsed: ParsedManifest): Promise<void> {
    const errors: ErrorBody[] = [];
    let missing = 0;
    if (this.options.requireBlobs) {
      for (const blob of distinct(parsed.blobs)) {
        if (missing === maxMissingReported) break;
        if (await this.blobs.isLinked(name, blob)) continue;
        missing++;
        errors.push({ code: "MANIFEST_BLOB_UNKNOWN", message: `blob ${blob.value} is not in repository ${name}`, detail: { digest: blob.value } });
      }
    }
    if (this.options.requireIndexChildren) {
      for (const child of distinct(parsed.manifests)) {
        if (missing === maxMissingReported) break;
        if (await this.has(name, child)) continue;
        missing++;
        const message = `manifest ${child.value} named by the index is not in repository ${name}`;
        errors.push({ code: "MANIFEST_BLOB_UNKNOWN", message, detail: { digest: child.value } }, { code: "MANIFEST_UNKNOWN", message, detail: { digest: child.value } });
      }
    }
    const [first, ...more] = errors;
    if (first) throw new RegistryError("MANIFEST_BLOB_UNKNOWN", first.message, { detail: first.detail, more });
  }
}

/**
 * Missing blobs and manifests a refused push reports, at most: the push fails at the first, and a
 * manifest of thousands of absent layers then costs this many lookups, not one each (on S3, a
 * request each) and an answer larger than itself.
 */
const maxMissingReported = 100;

/** Each digest once, in order of first appearance. */
function distinct(digests: readonly Digest[]): Digest[] {
  return [...new Map(digests.map((d) => [d.value, d])).values()];
}

/**
 * Re-reads a stored manifest. Its Content-Type was not stored (registry:2's layout has no place for
 * it), so it comes from the `mediaType` field, or the shape for OCI manifests that omit it.
 */
function readStored(body: Buffer): { mediaType: string; parsed: ManifestFacts } {
  let json: { mediaType?: unknown; manifests?: unknown; schemaVersion?: unknown; signatures?: unknown };
  try {
    json = JSON.parse(body.toString("utf8")) as typeof json;
  } catch {
    json = {};
  }
  const guess =
    json.schemaVersion === 1
      ? json.signatures === undefined
        ? mediaTypes.dockerSchema1
        : mediaTypes.dockerSchema1Signed
      : typeof json.mediaType === "string"
        ? json.mediaType
        : Array.isArray(json.manifests)
          ? mediaTypes.ociIndex
          : mediaTypes.ociManifest;
  try {
    const parsed = parseManifest(body, guess);
    return { mediaType: parsed.mediaType, parsed: factsOf(parsed) };
  } catch {
    // A manifest written by another registry that lading would refuse (e.g. schema 1): serve it as stored.
    return { mediaType: guess, parsed: { mediaType: guess, kind: "image", manifests: [] } };
  }
}
