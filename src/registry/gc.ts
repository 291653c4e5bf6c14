/**
 * Garbage collection while the registry serves: mark and sweep over registry:2's layout.
 *
 * Mark. Every repository is walked: its manifest revisions, its tags, and the manifests' bytes.
 * First a retention rule, if one matches the repository, removes the tags it does not keep (each
 * only if it still names what was judged). The roots are then every revision but those whose last
 * tag retention removed, or with `deleteUntagged` the tagged manifests only. From the roots, an
 * index reaches its child manifests (which keep their revisions), a manifest its config, layers and
 * subject; and every manifest whose subject is kept (its referrers) is kept, to a fixed point.
 * Reached digests are marked; their number bounds the collector's memory, not the store's size.
 *
 * Sweep. First the revisions no root reaches (and their referrer entries).
 * Then every blob under `blobs/` that is not marked, older than the grace period: each repository's
 * link to it first, then its bytes. Then upload sessions older than the purge age. Deletions go in
 * that order so that registry:2's layout stays valid at every moment: no revision or link ever
 * names bytes that are gone, and docker-registry can serve the store while it is collected.
 *
 * Why a push running meanwhile loses nothing (collection-guard.ts has the mechanism):
 * 1. Writes that make content reachable (a manifest put, an upload's completion, a mount) that were
 *    under way when the collection began finish before the mark starts, so the mark sees them.
 * 2. From the start, every digest the registry uses is *held* before it is checked, read or
 *    written, and a held digest is never deleted by this collection: a manifest put names its own
 *    digest and every blob and child it references; an upload and a mount the blob they store.
 *    Everything that begins after the mark passed a repository is thus covered.
 * 3. A digest is deleted only after `claim` took it in one synchronous step, which fails if it is
 *    held. After the claim, a use of the digest waits until the deletion is over, and then sees it
 *    gone: a manifest put then fails with MANIFEST_BLOB_UNKNOWN, a mount becomes an upload, and an
 *    upload stores the bytes again. A put that checked its blobs before the claim held them first,
 *    so the claim failed. So no manifest is acknowledged that names a deleted blob.
 * 4. Caches: the collector forgets every deleted blob, link and revision, and a read that began
 *    before a deletion does not store what it saw (the guard's epoch), so no cache answers for
 *    something deleted.
 * 5. The grace period keeps what was stored recently but is not referenced yet (an upload between
 *    its PUT and the manifest that names it), whether written by this process or another tool.
 * 6. A crash: revisions are deleted durably, before any blob; blobs and their links are deleted
 *    lossily where the driver can (no sync per deletion), in order. A crash may bring some of
 *    them back: garbage again, for the next collection; never a revision naming a deleted blob.
 * This holds for the process that owns the store and runs the collection (the filesystem and
 * memory drivers). A shared store (replicas on one bucket) is collected under the same rules by
 * a protocol that publishes the holds and the claims in the store (shared-collection.ts): the
 * collector announces itself and waits one window, so that writes under way finish or hold what
 * they use; after the mark it writes every claim at once, reads the holds, and deletes what is
 * claimed and not held; replicas forget what they believed when it ends. A push moving a tag
 * holds the tag too, so retention removes its tags after the claims, and only the unheld ones.
 */
import { parseDigest, type Digest } from "../oci/digest.js";
import { isPathNotFound, StorageError, type StorageDriver } from "../storage/driver.js";
import { blobDataPath, blobDirPath, blobsRoot, layerLinkDirPath, manifestsPath, referrerLinkPath, repositoriesRoot, revisionDirPath, revisionLinkPath, revisionsAlgorithmPath, tagCurrentLinkPath, tagsPath } from "../storage/paths.js";
import { inParallel } from "../image/parallel.js";
import { deleteIfExists, listIfExists, readLink } from "./links.js";
import { referencesIn, walkRepositories, type References, type RepositoryDir } from "./store-walk.js";
import { globToRegExp } from "../auth/policy.js";
import type { Registry } from "./index.js";
import { CollectionGuard, tagHold } from "./collection-guard.js";
import { SharedCollection } from "./shared-collection.js";

export interface CollectOptions {
  /** Report what would be deleted, and delete nothing. */
  dryRun?: boolean;
  /** Keep only tagged manifests (and what they reach, and their referrers). */
  deleteUntagged?: boolean;
  /** Blobs stored less than this long ago (ms) are kept even when nothing references them. */
  graceMs: number;
  /** Upload sessions started longer ago than this (ms) are deleted; undefined: uploads are left alone. */
  uploadsAgeMs?: number;
  /** Which tags to remove, per repository pattern: the first rule matching a repository applies. */
  retention?: readonly RetentionRule[];
  /** On a shared store: the replicas' window (`lading.gc.window`), in ms. */
  windowMs?: number;
  /** Also measure what the blob store holds (a stat per blob): `blobs.stored` and `blobs.bytesStored`. */
  measure?: boolean;
}

/**
 * The tags of matching repositories that a collection keeps; it removes the others. Kept: the
 * `keeplast` most recently pushed, those pushed less than `olderthan` ms ago, those matching
 * `keeptags`, and immutable ones.
 */
export interface RetentionRule {
  repositories: readonly string[];
  keeplast?: number | undefined;
  olderthan?: number | undefined;
  keeptags: readonly string[];
}

/** A tag as retention judges it: when it was last pointed at its manifest (ms since the epoch). */
export interface DatedTag {
  tag: string;
  pushed: number;
}

/** The tags `rule` keeps, at time `now`; `immutable` says which may never be removed. */
export function retainedTags(rule: RetentionRule, tags: readonly DatedTag[], now: number, immutable: (tag: string) => boolean): Set<string> {
  const patterns = rule.keeptags.map(globToRegExp);
  const kept = new Set<string>();
  const newest = [...tags].sort((a, b) => b.pushed - a.pushed || (a.tag < b.tag ? -1 : 1));
  newest.slice(0, rule.keeplast ?? 0).forEach((t) => kept.add(t.tag));
  for (const { tag, pushed } of tags) {
    if ((rule.olderthan !== undefined && now - pushed < rule.olderthan) || patterns.some((re) => re.test(tag)) || immutable(tag)) kept.add(tag);
  }
  return kept;
}

export interface CollectReport {
  dryRun: boolean;
  deleteUntagged: boolean;
  startedAt: string;
  durationMs: number;
  repositories: number;
  manifests: { kept: number; deleted: number };
  /** Tags removed by retention rules. */
  tags: { deleted: number };
  blobs: {
    /** Reached from a kept manifest. */
    reachable: number;
    /** Not reached, but stored within the grace period. */
    young: number;
    /** Not reached, but used while the collection ran. */
    inUse: number;
    deleted: number;
    bytesFreed: number;
    /** With `measure`: every blob stored when the sweep listed it, and their bytes. */
    stored?: number;
    bytesStored?: number;
  };
  links: { deleted: number };
  uploads: { deleted: number; kept: number };
  /** What was found broken and skipped: corrupt links, missing manifests. */
  problems: string[];
  deletedTags: string[];
  deletedManifests: string[];
  deletedBlobs: Array<{ digest: string; size: number }>;
}

/** The most storage requests the collector has in flight at once. */
const parallelism = 16;

/** Why `collect` cannot run on this store. */
export class CollectionRefused extends Error {}

/** Runs one garbage collection over the registry's store while it serves. */
export async function collect(registry: Registry, options: CollectOptions): Promise<CollectReport> {
  const driver = registry.driver;
  const guard = registry.blobs.guard;
  const local = guard instanceof CollectionGuard ? guard : undefined;
  if (local?.active) throw new CollectionRefused("a garbage collection is already running");
  const started = Date.now();
  const report: CollectReport = {
    dryRun: options.dryRun === true,
    deleteUntagged: options.deleteUntagged === true,
    startedAt: new Date(started).toISOString(),
    durationMs: 0,
    repositories: 0,
    manifests: { kept: 0, deleted: 0 },
    tags: { deleted: 0 },
    blobs: { reachable: 0, young: 0, inUse: 0, deleted: 0, bytesFreed: 0, ...(options.measure === true ? { stored: 0, bytesStored: 0 } : {}) },
    links: { deleted: 0 },
    uploads: { deleted: 0, kept: 0 },
    problems: [],
    deletedTags: [],
    deletedManifests: [],
    deletedBlobs: [],
  };
  if (local === undefined) {
    await collectShared(registry, options, started, report);
    report.durationMs = Date.now() - started;
    return report;
  }
  await local.begin();
  try {
    const marked = new Set<string>();
    const untagged: Unreached[] = [];
    const repositories = await walkRepositories(driver);
    report.repositories = repositories.filter((r) => r.manifests).length;
    for (const repository of repositories) {
      if (repository.manifests) await markRepository(registry, repository.name, options, started, marked, untagged, report, (name, tag, digest) => (report.dryRun ? Promise.resolve(true) : registry.tags.untagIf(name, tag, digest)));
    }
    await deleteRevisions(registry, untagged, marked, report, { inUse: (d) => local.isHeld(d), claim: (d) => local.claim(d), release: (d) => local.release(d), deleting: () => {} });
    const sweepable = (digest: string): boolean => !marked.has(digest);
    const links = await unmarkedLinks(driver, repositories, sweepable);
    await sweepBlobs(registry, sweepable, links, started - options.graceMs, report, local);
    if (options.uploadsAgeMs !== undefined) {
      const purged = await registry.uploads.purge(new Date(Date.now() - options.uploadsAgeMs), report.dryRun);
      report.uploads = { deleted: purged.purged.length, kept: purged.kept };
    }
  } finally {
    local.end();
  }
  report.durationMs = Date.now() - started;
  return report;
}

/**
 * The same collection on a shared store: announced to the replicas (shared-collection.ts), the
 * mark as above, then every deletion claimed at once; what a replica held meanwhile is kept.
 */
async function collectShared(registry: Registry, options: CollectOptions, started: number, report: CollectReport): Promise<void> {
  const driver = registry.driver;
  const collection = report.dryRun ? undefined : await SharedCollection.begin(driver, options.windowMs ?? defaultWindowMs, (message) => new CollectionRefused(message));
  try {
    const marked = new Set<string>();
    const untagged: Unreached[] = [];
    const repositories = await walkRepositories(driver);
    report.repositories = repositories.filter((r) => r.manifests).length;
    // Retention's tags are removed after the claims, those a replica's push holds left alone.
    const retiring: Array<{ name: string; tag: string; digest: Digest }> = [];
    for (const repository of repositories) {
      if (repository.manifests) {
        await markRepository(registry, repository.name, options, started, marked, untagged, report, async (name, tag, digest) => {
          retiring.push({ name, tag, digest });
          return true;
        });
      }
    }
    const blobs: Array<{ digest: Digest; size: number }> = [];
    await eachOldUnmarked(driver, (digest) => !marked.has(digest), started - options.graceMs, report, async (digest, size) => void blobs.push({ digest, size }));
    const wanted = [...new Set([...retiring.map((t) => tagHold(t.name, t.tag)), ...untagged.map((u) => u.digest.value), ...blobs.map((b) => b.digest.value)])];
    const free = collection === undefined ? new Set(wanted) : await collection.claim(wanted);
    // A tag kept after all keeps what it names (and what that reaches).
    const keptByTag = new Set<string>();
    for (const { name, tag, digest } of retiring) {
      collection?.alive();
      if (free.has(tagHold(name, tag)) && (report.dryRun || (await registry.tags.untagIf(name, tag, digest)))) continue;
      keptByTag.add(digest.value);
      report.tags.deleted--;
      report.deletedTags.splice(report.deletedTags.indexOf(`${name}:${tag}`), 1);
    }
    const claims: Claims = { inUse: (digest) => !free.has(digest) || keptByTag.has(digest), claim: (digest) => free.has(digest) && !keptByTag.has(digest), release: () => {}, deleting: () => collection?.alive() };
    await deleteRevisions(registry, untagged, marked, report, claims);
    const sweepable = (digest: string): boolean => free.has(digest) && !marked.has(digest);
    const links = await unmarkedLinks(driver, repositories, sweepable);
    await inParallel(blobs, parallelism, async ({ digest, size }) => {
      if (!sweepable(digest.value)) {
        report.blobs.inUse++;
        return;
      }
      collection?.alive();
      await deleteBlob(registry, digest, size, links, report);
    });
    if (options.uploadsAgeMs !== undefined) {
      const purged = await registry.uploads.purge(new Date(Date.now() - options.uploadsAgeMs), report.dryRun);
      report.uploads = { deleted: purged.purged.length, kept: purged.kept };
    }
  } finally {
    await collection?.end();
  }
}

/** The replicas' window when none is configured (`lading.gc.window`). */
export const defaultWindowMs = 10_000;

/** How a sweep takes what it deletes: a digest in use is kept; a claimed one is deleted, then released. */
interface Claims {
  inUse(digest: string): boolean;
  claim(digest: string): boolean;
  release(digest: string): void;
  /** Before each deletion: throws when deleting must stop. */
  deleting(): void;
}

/**
 * Every unmarked blob stored before `before` (ms), with its size, given to `each`; counts the
 * reachable and the young.
 */
async function eachOldUnmarked(driver: StorageDriver, sweepable: (digest: string) => boolean, before: number, report: CollectReport, each: (digest: Digest, size: number) => Promise<void>): Promise<void> {
  await eachBlobPrefix(driver, report, async (digests) => {
    if (report.blobs.bytesStored !== undefined) await measure(driver, digests, report);
    const candidates = digests.filter((d) => {
      if (sweepable(d.value)) return true;
      report.blobs.reachable++;
      return false;
    });
    await inParallel(candidates, parallelism, async (digest) => {
      const size = await oldBlobSize(driver, digest, before);
      if (size === undefined) report.blobs.young++;
      else await each(digest, size);
    });
  });
}

/** Counts blobs and their bytes (a blob whose data is gone counts 0). */
async function measure(driver: StorageDriver, digests: Digest[], report: CollectReport): Promise<void> {
  const sizes = await inParallel(digests, parallelism, (digest) =>
    driver.stat(blobDataPath(digest)).then(
      (info) => info.size,
      (err: unknown) => {
        if (isPathNotFound(err)) return 0;
        throw err;
      },
    ),
  );
  report.blobs.stored = (report.blobs.stored ?? 0) + digests.length;
  report.blobs.bytesStored = (report.blobs.bytesStored ?? 0) + sizes.reduce((a, b) => a + b, 0);
}

/** The digests under `blobs/`, one two-hex-digit prefix at a time. */
async function eachBlobPrefix(driver: StorageDriver, report: CollectReport, each: (digests: Digest[]) => Promise<void>): Promise<void> {
  for (const algorithm of await listIfExists(driver, blobsRoot)) {
    for (const prefix of await listIfExists(driver, `${blobsRoot}/${algorithm}`)) {
      const digests: Digest[] = [];
      for (const hex of await listIfExists(driver, `${blobsRoot}/${algorithm}/${prefix}`)) {
        const digest = parseDigest(`${algorithm}:${hex}`);
        if (digest) digests.push(digest);
        else report.problems.push(`blob directory ${blobsRoot}/${algorithm}/${prefix}/${hex} is not a digest: skipped`);
      }
      await each(digests);
    }
  }
}

/** A blob's size when it was stored before `before` (ms); undefined when younger. A directory without its data counts 0. */
async function oldBlobSize(driver: StorageDriver, digest: Digest, before: number): Promise<number | undefined> {
  try {
    const info = await driver.stat(blobDataPath(digest));
    return info.modTime.getTime() > before ? undefined : info.size;
  } catch (err) {
    if (!isPathNotFound(err)) throw err;
    return 0; // a directory without its data: removed with the rest
  }
}

/** Deletes a blob: each repository's link to it first, then its bytes; forgets them (or, in a dry run, counts). */
async function deleteBlob(registry: Registry, digest: Digest, size: number, links: Map<string, string[]>, report: CollectReport): Promise<void> {
  const { driver, blobs } = registry;
  if (!report.dryRun) {
    for (const name of links.get(digest.value) ?? []) {
      if (await deleteIfExists(driver, layerLinkDirPath(name, digest), { lossy: true })) report.links.deleted++;
      blobs.forgetLink(name, digest);
    }
    await deleteIfExists(driver, blobDirPath(digest), { lossy: true });
    blobs.forget(digest);
  } else {
    report.links.deleted += links.get(digest.value)?.length ?? 0;
  }
  report.blobs.deleted++;
  report.blobs.bytesFreed += size;
  report.deletedBlobs.push({ digest: digest.value, size });
}

/** A revision no root reaches: deleted with `deleteUntagged`. */
interface Unreached {
  name: string;
  digest: Digest;
  references: References;
}

/** Reads a link file: its digest, or whether it is missing or broken (empty or corrupt: reported). */
async function readLinkChecked(driver: StorageDriver, path: string, problems: string[]): Promise<Digest | "missing" | "broken"> {
  let content: Buffer;
  try {
    content = await driver.getContent(path);
  } catch (err) {
    if (isPathNotFound(err)) return "missing";
    throw err;
  }
  const digest = parseDigest(content.toString("utf8").trim());
  if (digest) return digest;
  problems.push(`${content.length === 0 ? "empty" : "corrupt"} link ${path}: skipped`);
  return "broken";
}

async function markRepository(
  registry: Registry,
  name: string,
  options: CollectOptions,
  now: number,
  marked: Set<string>,
  untagged: Unreached[],
  report: CollectReport,
  /** Removes a tag retention does not keep if it still names `digest`; whether it did. */
  removeTag: (name: string, tag: string, digest: Digest) => Promise<boolean>,
): Promise<void> {
  const driver = registry.driver;
  // Revisions: a directory with a link file (registry:2 deletes a manifest by deleting the file).
  // A corrupt link file is reported, and the revision its directory names kept.
  const revisions: Digest[] = [];
  for (const algorithm of await listIfExists(driver, `${manifestsPath(name)}/revisions`)) {
    for (const hex of await listIfExists(driver, revisionsAlgorithmPath(name, algorithm))) {
      const digest = parseDigest(`${algorithm}:${hex}`);
      if (digest) revisions.push(digest);
      else report.problems.push(`revision directory ${revisionsAlgorithmPath(name, algorithm)}/${hex} is not a digest: skipped`);
    }
  }
  const linked = await inParallel(revisions, parallelism, (digest) => readLinkChecked(driver, revisionLinkPath(name, digest), report.problems));
  const references = new Map<string, References>();
  const present: Digest[] = [];
  await inParallel(revisions, parallelism, async (digest, i) => {
    const link = linked[i];
    if (link === "missing") return;
    if (typeof link === "object" && link.value !== digest.value) report.problems.push(`revision link ${revisionLinkPath(name, digest)} names ${link.value}: kept as ${digest.value}`);
    const found = await readReferences(driver, digest, report.problems, name);
    if (found === undefined) return;
    references.set(digest.value, found);
    present.push(digest);
  });

  // Tags, when something depends on them: untagged manifests go, or a retention rule applies.
  const rule = options.retention?.find((r) => r.repositories.some((glob) => globToRegExp(glob).test(name)));
  const tagged = options.deleteUntagged || rule !== undefined ? await readTags(driver, name, rule !== undefined, report) : [];
  const removed = new Set<string>();
  if (rule !== undefined) {
    const kept = retainedTags(rule, tagged, now, (tag) => registry.tags.isImmutable(name, tag));
    for (const { tag, digest } of tagged) {
      if (kept.has(tag)) continue;
      // Only if the tag still names what was judged: a push moving it meanwhile wins.
      if (!(await removeTag(name, tag, digest))) continue;
      removed.add(tag);
      report.tags.deleted++;
      report.deletedTags.push(`${name}:${tag}`);
    }
  }
  const remaining = tagged.filter((t) => !removed.has(t.tag));
  for (const { tag, digest } of remaining) {
    // A manifest put that landed after its revisions were read is held (it is not collected): only one still missing is a problem.
    if (!references.has(digest.value) && !(await holdsRevision(driver, name, digest))) {
      report.problems.push(`tag ${name}:${tag} names ${digest.value}, which the repository does not hold: skipped`);
    }
  }
  // The roots: what tags name, or every revision but those whose last tag retention removed.
  const stillTagged = new Set(remaining.map((t) => t.digest.value));
  const retired = new Set(tagged.filter((t) => removed.has(t.tag) && !stillTagged.has(t.digest.value)).map((t) => t.digest.value));
  const roots: Digest[] = options.deleteUntagged ? remaining.map((t) => t.digest) : present.filter((d) => !retired.has(d.value));

  // What the roots reach, then referrers of what is kept, until nothing more is added.
  const kept = new Set<string>();
  const keep = (digest: Digest): void => {
    if (kept.has(digest.value)) return;
    kept.add(digest.value);
    marked.add(digest.value);
    const found = references.get(digest.value);
    if (found === undefined) return;
    for (const blob of found.blobs) marked.add(blob.value);
    for (const child of found.children) {
      if (references.has(child.value)) keep(child);
      else marked.add(child.value);
    }
    // A kept referrer keeps its subject: a signature never outlives what it signs.
    if (found.subject !== undefined && references.has(found.subject.value)) keep(found.subject);
  };
  roots.forEach(keep);
  for (let added = true; added; ) {
    added = false;
    for (const digest of present) {
      const subject = references.get(digest.value)?.subject;
      if (!kept.has(digest.value) && subject !== undefined && kept.has(subject.value)) {
        keep(digest);
        added = true;
      }
    }
  }
  for (const digest of present) {
    if (kept.has(digest.value)) report.manifests.kept++;
    else untagged.push({ name, digest, references: references.get(digest.value)! });
  }
}

async function holdsRevision(driver: StorageDriver, name: string, digest: Digest): Promise<boolean> {
  try {
    return (await readLink(driver, revisionLinkPath(name, digest))) !== undefined && !(await driver.stat(blobDataPath(digest))).isDir;
  } catch (err) {
    if (isPathNotFound(err) || !(err instanceof StorageError)) return false; // missing, or a corrupt link
    throw err;
  }
}

/** A repository's tags and what they name; with `dated`, when each was last pointed (for retention). */
async function readTags(driver: StorageDriver, name: string, dated: boolean, report: CollectReport): Promise<Array<DatedTag & { digest: Digest }>> {
  const found = await inParallel(await listIfExists(driver, tagsPath(name)), parallelism, async (tag) => {
    const path = tagCurrentLinkPath(name, tag);
    const digest = await readLinkChecked(driver, path, report.problems);
    if (typeof digest !== "object") return undefined;
    if (!dated) return { tag, digest, pushed: 0 };
    try {
      return { tag, digest, pushed: (await driver.stat(path)).modTime.getTime() };
    } catch (err) {
      if (isPathNotFound(err)) return undefined; // deleted meanwhile
      throw err;
    }
  });
  return found.filter((t) => t !== undefined);
}

/**
 * What a manifest names, from its JSON whatever its type (OCI and Docker images and indexes,
 * artifacts, schema 1): `manifests[]` are children; `config`, `layers[]`, `blobs[]` and schema 1's
 * `fsLayers[].blobSum` are blobs. Undefined when its bytes are missing or not JSON (reported).
 */
async function readReferences(driver: StorageDriver, digest: Digest, problems: string[], name: string): Promise<References | undefined> {
  let body: Buffer;
  try {
    body = await driver.getContent(blobDataPath(digest));
  } catch (err) {
    if (!isPathNotFound(err)) throw err;
    problems.push(`manifest ${name}@${digest.value} has a revision but its bytes are missing: skipped`);
    return undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch {
    problems.push(`manifest ${name}@${digest.value} is not JSON: its blobs are not marked`);
    return { children: [], blobs: [], subject: undefined };
  }
  return referencesIn(json);
}

/**
 * Deletes the revisions no root reached (`deleteUntagged`). Which go is decided in one synchronous
 * step: one used meanwhile is kept, with everything it reaches (its blobs are marked, its child
 * revisions kept too), and the rest are claimed at once; the deletions follow.
 */
async function deleteRevisions(registry: Registry, untagged: Unreached[], marked: Set<string>, report: CollectReport, guard: Claims): Promise<void> {
  const byKey = new Map(untagged.map((entry) => [`${entry.name}\n${entry.digest.value}`, entry]));
  const kept = new Set<Unreached>();
  const keep = (entry: Unreached): void => {
    if (kept.has(entry)) return;
    kept.add(entry);
    marked.add(entry.digest.value);
    for (const blob of entry.references.blobs) marked.add(blob.value);
    for (const child of entry.references.children) {
      marked.add(child.value);
      const unreached = byKey.get(`${entry.name}\n${child.value}`);
      if (unreached) keep(unreached);
    }
  };
  for (const entry of untagged) if (guard.inUse(entry.digest.value)) keep(entry);
  // One digest may be unreached in several repositories: claimed once for all of them. Nothing
  // held is left (the step is synchronous), so every claim succeeds.
  const claimed = new Set<string>();
  const take = (digest: string): boolean => {
    if (report.dryRun || claimed.has(digest)) return true;
    if (!guard.claim(digest)) return false;
    claimed.add(digest);
    return true;
  };
  const doomed = untagged.filter((entry) => !kept.has(entry) && take(entry.digest.value));
  report.manifests.kept += kept.size;
  try {
    await inParallel(doomed, parallelism, async ({ name, digest, references }) => {
      if (!report.dryRun) {
        guard.deleting();
        await deleteIfExists(registry.driver, revisionDirPath(name, digest));
        if (references.subject !== undefined) await deleteIfExists(registry.driver, referrerLinkPath(name, references.subject, digest).replace(/\/link$/, ""));
        registry.manifests.forgetRevision(name, digest);
      }
      report.manifests.deleted++;
      report.deletedManifests.push(`${name}@${digest.value}`);
    });
  } finally {
    for (const digest of claimed) guard.release(digest);
  }
}

/** The repositories linking each blob that `sweepable` allows deleting. */
async function unmarkedLinks(driver: StorageDriver, repositories: RepositoryDir[], sweepable: (digest: string) => boolean): Promise<Map<string, string[]>> {
  const links = new Map<string, string[]>();
  for (const { name, layers } of repositories) {
    if (!layers) continue;
    const root = `${repositoriesRoot}/${name}/_layers`;
    for (const algorithm of await listIfExists(driver, root)) {
      for (const hex of await listIfExists(driver, `${root}/${algorithm}`)) {
        const digest = `${algorithm}:${hex}`;
        if (!sweepable(digest)) continue;
        const names = links.get(digest);
        if (names) names.push(name);
        else links.set(digest, [name]);
      }
    }
  }
  return links;
}

/** Deletes every unmarked blob older than `before` (ms) and not used meanwhile, its links first. */
async function sweepBlobs(registry: Registry, sweepable: (digest: string) => boolean, links: Map<string, string[]>, before: number, report: CollectReport, guard: CollectionGuard): Promise<void> {
  await eachOldUnmarked(registry.driver, sweepable, before, report, async (digest, size) => {
    if (report.dryRun ? guard.isHeld(digest.value) : !guard.claim(digest.value)) {
      report.blobs.inUse++;
      return;
    }
    try {
      await deleteBlob(registry, digest, size, links, report);
    } finally {
      if (!report.dryRun) guard.release(digest.value);
    }
  });
}
