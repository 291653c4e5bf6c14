/**
 * The check of a store (`lading fsck`), registry:2's layout whoever wrote it: every blob hashes to
 * its name, every link holds one well-formed digest whose target is there, every manifest revision
 * parses and what it names is stored, every tag resolves, upload folders are well-formed, and
 * lading's own files parse.
 *
 * It streams: blobs one two-hex-digit prefix at a time, repositories one at a time, existence
 * answers in a bounded cache; memory is bounded by the largest directory, not by the store.
 *
 * Repair removes what is broken and nothing sound: corrupt blobs and blob folders without bytes,
 * links that are corrupt or name what is gone, revisions without bytes, tags that resolve to
 * nothing, referrer entries of missing manifests, malformed and abandoned uploads. The order of a
 * repair is the collector's (blobs, then what names them), so a repaired problem never leaves
 * another behind but one the walk meets next and repairs too. Content is never removed for
 * being incomplete (a manifest whose layer is missing stays, and is reported: pushing the image
 * again completes it).
 *
 * Beside a live server (run inside it, see server/admin.ts) what the walk sees may be a write or a
 * deletion in progress: every problem is checked again at the end and reported only if it stays.
 */
import { createHash } from "node:crypto";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
import { isAlgorithm, parseDigest, type Algorithm, type Digest } from "../oci/digest.js";
import { isValidName, isValidTag } from "../oci/reference.js";
import { isPathNotFound, type FileInfo, type StorageDriver } from "../storage/driver.js";
import {
  blobDataPath,
  blobDirPath,
  blobsRoot,
  layerLinkDirPath,
  layerLinkPath,
  manifestsPath,
  referrerLinkPath,
  repositoryPath,
  revisionDirPath,
  revisionLinkPath,
  tagCurrentLinkPath,
  tagPath,
  tagsPath,
  uploadPath,
  uploadsRootPath,
} from "../storage/paths.js";
import { inParallel } from "../image/parallel.js";
import { deleteIfExists, listIfExists } from "./links.js";
import { Lru } from "./lru.js";
import { coordinationRoot, readState } from "./shared-collection.js";
import { referencesIn, walkRepositories } from "./store-walk.js";

export type ProblemKind =
  | "blob-corrupt"
  | "blob-without-data"
  | "blob-misplaced"
  | "link-corrupt"
  | "link-dangling"
  | "revision-without-bytes"
  | "manifest-invalid"
  | "manifest-blob-missing"
  | "manifest-blob-unlinked"
  | "manifest-child-missing"
  | "tag-invalid"
  | "tag-dangling"
  | "referrer-dangling"
  | "upload-malformed"
  | "upload-abandoned"
  | "repository-name-invalid"
  | "lading-file";

export interface Problem {
  kind: ProblemKind;
  /** The store path at fault (slash-separated from the store's root). */
  path: string;
  message: string;
  /** What `--repair` does about it; absent when it leaves it (and `hint` says what to do). */
  repair?: string;
  hint?: string;
  /** Set in a repair: whether it was removed. */
  repaired?: boolean;
}

export interface FsckOptions {
  /** Remove what is broken. */
  repair: boolean;
  /** Hash every blob (false: only check that its bytes are there). */
  hash: boolean;
  /** Uploads started longer ago than this are abandoned (the upload purge age); undefined: never. */
  uploadsAgeMs: number | undefined;
  /** Whether a manifest's blobs and an index's children must be stored (false with sparse manifests). */
  requireBlobs: boolean;
  requireChildren: boolean;
  /** Repositories whose manifests may name what is not stored (a mirror's cache holds what was pulled). */
  sparseRepository?: (name: string) => boolean;
  /** A server may be changing the store meanwhile: confirm every problem before reporting it. */
  live: boolean;
  onProgress?: (progress: FsckProgress) => void;
}

export interface FsckProgress {
  phase: "blobs" | "repositories";
  done: number;
  total: number;
}

export interface FsckReport {
  /** No problem left: none found, or every one repaired. */
  sound: boolean;
  repair: boolean;
  durationMs: number;
  blobs: { checked: number; bytes: number; hashed: boolean };
  repositories: number;
  manifests: number;
  tags: number;
  links: number;
  uploads: { inProgress: number };
  /** Every problem found (the first `maxListed` of them in `problems`). */
  problemCount: number;
  repairedCount: number;
  problems: Problem[];
  /** What is worth knowing and is not a problem (e.g. what a crash left in the journal). */
  notes: string[];
}

/** Problems listed in a report; the rest are counted. */
export const maxListed = 10_000;
const parallelism = 16;
const hashParallelism = 4;
/** Blobs up to this size are read whole to be hashed (a stream per small file costs more than its bytes). */
const smallBlob = 1 << 20;

/** A check of one thing: its problem, or undefined when sound. Run again to confirm or before repairing. */
type Check = () => Promise<Found | undefined>;
interface Found {
  kind: ProblemKind;
  path: string;
  message: string;
  hint?: string;
  /** Removes it (with `repair`), described. */
  remove?: { what: string; run: () => Promise<void> };
}

export async function checkStore(driver: StorageDriver, options: FsckOptions, notes: string[] = []): Promise<FsckReport> {
  const started = Date.now();
  const report: FsckReport = {
    sound: true,
    repair: options.repair,
    durationMs: 0,
    blobs: { checked: 0, bytes: 0, hashed: options.hash },
    repositories: 0,
    manifests: 0,
    tags: 0,
    links: 0,
    uploads: { inProgress: 0 },
    problemCount: 0,
    repairedCount: 0,
    problems: [],
    notes,
  };
  const pending: Array<{ check: Check; found: Found }> = [];
  const record = (found: Found, repaired: boolean | undefined): void => {
    report.problemCount++;
    if (repaired) report.repairedCount++;
    if (report.problems.length >= maxListed) return;
    const problem: Problem = { kind: found.kind, path: found.path, message: found.message };
    if (found.remove !== undefined) problem.repair = found.remove.what;
    if (found.hint !== undefined) problem.hint = found.hint;
    if (repaired !== undefined) problem.repaired = repaired;
    report.problems.push(problem);
  };
  /** Runs a check; a problem is repaired at once (after a second look), or kept to confirm or report. */
  const run = async (check: Check): Promise<boolean> => {
    const found = await check();
    if (found === undefined) return true;
    if (options.repair && found.remove !== undefined) {
      const again = await check();
      if (again === undefined) return true;
      await again.remove!.run();
      record(again, true);
    } else if (options.live) {
      pending.push({ check, found });
    } else {
      record(found, options.repair ? false : undefined);
    }
    return false;
  };

  const exists = new Lru<string, boolean>(100_000);
  const blobExists = async (digest: Digest): Promise<boolean> => {
    const known = exists.get(digest.value);
    if (known !== undefined) return known;
    const found = await isFile(driver, blobDataPath(digest));
    exists.set(digest.value, found);
    return found;
  };
  const remover = (what: string, path: string, forget?: Digest) => ({
    what,
    run: async () => {
      await deleteIfExists(driver, path);
      if (forget !== undefined) exists.delete(forget.value);
    },
  });

  // Blobs, one prefix at a time.
  const prefixes: Array<{ algorithm: string; prefix: string }> = [];
  for (const algorithm of await listIfExists(driver, blobsRoot)) {
    for (const prefix of await listIfExists(driver, `${blobsRoot}/${algorithm}`)) prefixes.push({ algorithm, prefix });
  }
  for (const [i, { algorithm, prefix }] of prefixes.entries()) {
    const names = await listIfExists(driver, `${blobsRoot}/${algorithm}/${prefix}`);
    await inParallel(names, options.hash ? hashParallelism : parallelism, async (hex) => {
      const digest = parseDigest(`${algorithm}:${hex}`);
      if (digest === undefined || !hex.startsWith(prefix)) {
        const path = `${blobsRoot}/${algorithm}/${prefix}/${hex}`;
        await run(async () => ({ kind: "blob-misplaced", path, message: `blob folder ${path} is not named by a digest under its prefix`, hint: "move it away by hand if it is not yours" }));
        return;
      }
      report.blobs.checked++;
      await run(() => checkBlob(driver, digest, options.hash, report, remover(`remove the blob folder`, blobDirPath(digest), digest)));
    });
    options.onProgress?.({ phase: "blobs", done: i + 1, total: prefixes.length });
  }

  // Repositories, one at a time.
  const repositories = await walkRepositories(driver);
  for (const [i, repository] of repositories.entries()) {
    const name = repository.name;
    if (repository.manifests) report.repositories++;
    if (!isValidName(name)) {
      await run(async () => ({ kind: "repository-name-invalid", path: repositoryPath(name), message: `repository folder ${name} is not a valid repository name: clients cannot reach it`, hint: "rename or remove it by hand" }));
    }
    await checkRepository(driver, name, options, report, run, blobExists, remover);
    options.onProgress?.({ phase: "repositories", done: i + 1, total: repositories.length });
  }

  await checkOwnFiles(driver, run);

  for (const { check } of pending) {
    const found = await check();
    if (found !== undefined) record(found, undefined);
  }
  report.sound = report.problemCount === report.repairedCount;
  report.durationMs = Date.now() - started;
  return report;
}

async function checkBlob(driver: StorageDriver, digest: Digest, hash: boolean, report: FsckReport, remove: Found["remove"]): Promise<Found | undefined> {
  const path = blobDataPath(digest);
  const where = blobDirPath(digest);
  try {
    const info = await driver.stat(path);
    if (info.isDir) return { kind: "blob-without-data", path: where, message: `blob ${digest.value} has no data file`, ...(remove ? { remove } : {}) };
    if (!hash) {
      report.blobs.bytes += info.size;
      return undefined;
    }
    const actual = info.size <= smallBlob ? { digest: `${digest.algorithm}:${createHash(digest.algorithm).update(await driver.getContent(path)).digest("hex")}`, size: info.size } : await hashOf(driver, path, digest.algorithm);
    report.blobs.bytes += actual.size;
    if (actual.digest === digest.value) return undefined;
    return { kind: "blob-corrupt", path: where, message: `blob ${digest.value} hashes to ${actual.digest} (its bytes are corrupt)`, hint: "push the images that use it again", ...(remove ? { remove } : {}) };
  } catch (err) {
    if (!isPathNotFound(err)) throw err;
    // Removed since it was listed (a collection), or a folder without bytes.
    try {
      await driver.stat(where);
    } catch (again) {
      if (isPathNotFound(again)) return undefined;
      throw again;
    }
    return { kind: "blob-without-data", path: where, message: `blob ${digest.value} has no data file`, ...(remove ? { remove } : {}) };
  }
}

async function hashOf(driver: StorageDriver, path: string, algorithm: Algorithm): Promise<{ digest: string; size: number }> {
  const hash = createHash(algorithm);
  let size = 0;
  await pipeline(
    await driver.reader(path),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        size += chunk.length;
        callback();
      },
    }),
  );
  return { digest: `${algorithm}:${hash.digest("hex")}`, size };
}

type Remover = (what: string, path: string, forget?: Digest) => NonNullable<Found["remove"]>;

async function checkRepository(
  driver: StorageDriver,
  name: string,
  options: FsckOptions,
  report: FsckReport,
  run: (check: Check) => Promise<boolean>,
  blobExists: (digest: Digest) => Promise<boolean>,
  remover: Remover,
): Promise<void> {
  // Layer links: the repository may serve these blobs.
  const linked = new Set<string>();
  await eachDigestFolder(driver, `${repositoryPath(name)}/_layers`, run, remover, async (digest) => {
    const link = { present: false };
    const ok = await run(() => checkLink(driver, layerLinkPath(name, digest), digest, "layer link", layerLinkDirPath(name, digest), blobExists, remover, link));
    if (!link.present) return;
    report.links++;
    if (ok) linked.add(digest.value);
  });

  // Revisions: the manifests the repository holds, with their bytes.
  const revisions = new Set<string>();
  const manifests: Digest[] = [];
  await eachDigestFolder(driver, `${manifestsPath(name)}/revisions`, run, remover, async (digest) => {
    const link = { present: false };
    const ok = await run(() => checkLink(driver, revisionLinkPath(name, digest), digest, "revision link", revisionDirPath(name, digest), blobExists, remover, link, "revision-without-bytes"));
    if (!link.present) return; // registry:2 deletes a manifest by deleting its link file
    report.links++;
    if (!ok) return;
    revisions.add(digest.value);
    manifests.push(digest);
  });
  report.manifests += manifests.length;
  /** Whether the repository holds a manifest (checked again when the walk's answer says no: a push may have added it). */
  const holds = async (digest: Digest): Promise<boolean> =>
    revisions.has(digest.value) || ((await readLinkText(driver, revisionLinkPath(name, digest))) !== undefined && (await blobExists(digest)));
  await inParallel(manifests, parallelism, (digest) =>
    run(() => checkManifest(driver, name, digest, options, revisions, linked, blobExists)),
  );

  // Tags: each resolves to a revision with bytes.
  const tags = await listIfExists(driver, tagsPath(name));
  report.tags += tags.length;
  await inParallel(tags, parallelism, async (tag) => {
    const where = tagPath(name, tag);
    if (!isValidTag(tag)) {
      await run(async () => ({ kind: "tag-invalid", path: where, message: `tag folder ${name}:${tag} is not a valid tag name`, remove: remover("remove the tag", where) }));
      return;
    }
    await run(async () => {
      const path = tagCurrentLinkPath(name, tag);
      const text = await readLinkText(driver, path);
      if (text === undefined) {
        if (!(await isThere(driver, where))) return undefined; // deleted meanwhile
        return { kind: "tag-dangling", path: where, message: `tag ${name}:${tag} has no current link`, remove: remover("remove the tag", where) };
      }
      const digest = parseDigest(text.trim());
      if (digest === undefined) return { kind: "tag-invalid", path, message: `tag ${name}:${tag} holds ${quote(text)}, not a digest`, remove: remover("remove the tag", where) };
      if (await holds(digest)) return undefined;
      return { kind: "tag-dangling", path, message: `tag ${name}:${tag} names ${digest.value}, which the repository does not hold`, remove: remover("remove the tag", where) };
    });
  });

  // Referrers (lading's own index of manifests by subject): each names a revision here.
  for (const algorithm of await listIfExists(driver, `${repositoryPath(name)}/_referrers`)) {
    for (const subject of await listIfExists(driver, `${repositoryPath(name)}/_referrers/${algorithm}`)) {
      const subjectDigest = parseDigest(`${algorithm}:${subject}`);
      if (subjectDigest === undefined) continue;
      await eachDigestFolder(driver, `${repositoryPath(name)}/_referrers/${algorithm}/${subject}`, run, remover, async (digest) => {
        report.links++;
        const path = referrerLinkPath(name, subjectDigest, digest);
        const where = path.slice(0, -"/link".length);
        await run(async () => {
          const text = await readLinkText(driver, path);
          if (text === undefined) return undefined;
          if (parseDigest(text.trim())?.value !== digest.value) return { kind: "link-corrupt", path, message: `referrer link ${path} holds ${quote(text)}, not ${digest.value}`, remove: remover("remove the link", where) };
          if (await holds(digest)) return undefined;
          return { kind: "referrer-dangling", path, message: `${name} lists ${digest.value} as a referrer of ${subjectDigest.value}, but does not hold it`, remove: remover("remove the link", where) };
        });
      });
    }
  }

  // Uploads: each has a readable start time, or none (a crash can take it: it is written as lossily
  // as the rest of a session), when its folder's time stands for it, as for the purge; those older
  // than the purge age are abandoned.
  const ids = await listIfExists(driver, uploadsRootPath(name));
  await inParallel(ids, parallelism, async (id) => {
    const ok = await run(async () => {
      const where = uploadPath(name, id);
      let started: number;
      try {
        const text = (await driver.getContent(`${where}/startedat`)).toString("utf8").trim();
        started = Date.parse(text);
        if (Number.isNaN(started)) return { kind: "upload-malformed", path: `${where}/startedat`, message: `upload ${name}/${id} started at ${quote(text)}, not a time`, remove: remover("remove the upload", where) };
      } catch (err) {
        if (!isPathNotFound(err)) throw err;
        const folder = await driver.stat(where).catch((e: unknown) => (isPathNotFound(e) ? undefined : Promise.reject(e)));
        if (folder === undefined) return undefined; // finished meanwhile
        started = folder.modTime.getTime();
      }
      if (options.uploadsAgeMs !== undefined && Date.now() - started > options.uploadsAgeMs) {
        return { kind: "upload-abandoned", path: where, message: `upload ${name}/${id} was started ${new Date(started).toISOString()}, longer ago than the purge age`, remove: remover("remove the upload", where) };
      }
      return undefined;
    });
    if (ok) report.uploads.inProgress++;
  });
}

/**
 * Each `<algorithm>/<hex>` folder under `dir`, as a digest; folders that name no digest are
 * problems (removed by a repair: nothing can reach them).
 */
async function eachDigestFolder(driver: StorageDriver, dir: string, run: (check: Check) => Promise<boolean>, remover: Remover, each: (digest: Digest) => Promise<void>): Promise<void> {
  for (const algorithm of await listIfExists(driver, dir)) {
    const hexes = await listIfExists(driver, `${dir}/${algorithm}`);
    await inParallel(hexes, parallelism, async (hex) => {
      const digest = isAlgorithm(algorithm) ? parseDigest(`${algorithm}:${hex}`) : undefined;
      if (digest !== undefined) return each(digest);
      const path = `${dir}/${algorithm}/${hex}`;
      await run(async () => ((await isThere(driver, path)) ? { kind: "link-corrupt", path, message: `link folder ${path} is not named by a digest`, remove: remover("remove the folder", path) } : undefined));
    });
  }
}

/** A link file that must hold `digest`, whose blob must be stored; `link.present` says whether the file is there at all. */
async function checkLink(
  driver: StorageDriver,
  path: string,
  digest: Digest,
  what: string,
  folder: string,
  blobExists: (digest: Digest) => Promise<boolean>,
  remover: Remover,
  link: { present: boolean },
  missingKind: ProblemKind = "link-dangling",
): Promise<Found | undefined> {
  const text = await readLinkText(driver, path);
  link.present = text !== undefined;
  if (text === undefined) return undefined;
  const named = parseDigest(text.trim());
  if (named?.value !== digest.value) return { kind: "link-corrupt", path, message: `${what} ${path} holds ${quote(text)}, not ${digest.value}`, remove: remover("remove the link", folder) };
  if (await blobExists(digest)) return undefined;
  if ((await readLinkText(driver, path)) === undefined) return undefined; // removed meanwhile
  return { kind: missingKind, path, message: `${what} ${path} names ${digest.value}, whose bytes are not stored`, remove: remover("remove the link", folder) };
}

/** A manifest's bytes parse, and what it names is there. */
async function checkManifest(
  driver: StorageDriver,
  name: string,
  digest: Digest,
  options: FsckOptions,
  revisions: Set<string>,
  linked: Set<string>,
  blobExists: (digest: Digest) => Promise<boolean>,
): Promise<Found | undefined> {
  const path = blobDataPath(digest);
  let json: unknown;
  try {
    json = JSON.parse((await driver.getContent(path)).toString("utf8"));
  } catch (err) {
    if (isPathNotFound(err)) return undefined; // the revision check reports it
    if (!(err instanceof SyntaxError)) throw err;
    return { kind: "manifest-invalid", path, message: `manifest ${name}@${digest.value} is not JSON`, hint: `delete it (lading delete ${name}@${digest.value}) and push it again` };
  }
  if (typeof json !== "object" || json === null || Array.isArray(json) || typeof (json as { schemaVersion?: unknown }).schemaVersion !== "number") {
    return { kind: "manifest-invalid", path, message: `manifest ${name}@${digest.value} is JSON but not a manifest (no schemaVersion)`, hint: `delete it (lading delete ${name}@${digest.value})` };
  }
  const references = referencesIn(json);
  const sparse = options.sparseRepository?.(name) === true;
  if (options.requireBlobs && !sparse) {
    for (const blob of references.blobs) {
      if (!(await blobExists(blob))) {
        return { kind: "manifest-blob-missing", path: blobDataPath(blob), message: `manifest ${name}@${digest.value} names blob ${blob.value}, whose bytes are not stored`, hint: "push the image again" };
      }
      if (!linked.has(blob.value) && (await readLinkText(driver, layerLinkPath(name, blob))) === undefined) {
        return { kind: "manifest-blob-unlinked", path: layerLinkPath(name, blob), message: `manifest ${name}@${digest.value} names blob ${blob.value}, which ${name} does not link (pulls of it fail)`, hint: "push the image again" };
      }
    }
  }
  if (options.requireChildren && !sparse) {
    for (const child of references.children) {
      if (!revisions.has(child.value) && (await readLinkText(driver, revisionLinkPath(name, child))) === undefined) {
        return { kind: "manifest-child-missing", path: revisionLinkPath(name, child), message: `index ${name}@${digest.value} names manifest ${child.value}, which ${name} does not hold`, hint: "push the image again" };
      }
    }
  }
  return undefined;
}

/** lading's own files in the store: the shared collection's state. */
async function checkOwnFiles(driver: StorageDriver, run: (check: Check) => Promise<boolean>): Promise<void> {
  await run(async () => {
    try {
      await readState(driver);
      return undefined;
    } catch (err) {
      if (isPathNotFound(err)) return undefined;
      return { kind: "lading-file", path: `${coordinationRoot}/state`, message: `the garbage collection state is unreadable: ${(err as Error).message}`, hint: "remove it while no collection runs; collections refuse to start until then" };
    }
  });
}

/** A link file's text (empty, what a crash may leave of one, is not a digest); undefined when it does not exist. */
async function readLinkText(driver: StorageDriver, path: string): Promise<string | undefined> {
  try {
    return (await driver.getContent(path)).toString("utf8");
  } catch (err) {
    if (isPathNotFound(err)) return undefined;
    throw err;
  }
}

async function statIfThere(driver: StorageDriver, path: string): Promise<FileInfo | undefined> {
  try {
    return await driver.stat(path);
  } catch (err) {
    if (isPathNotFound(err)) return undefined;
    throw err;
  }
}

const isFile = async (driver: StorageDriver, path: string): Promise<boolean> => (await statIfThere(driver, path))?.isDir === false;
const isThere = async (driver: StorageDriver, path: string): Promise<boolean> => (await statIfThere(driver, path)) !== undefined;

const quote = (text: string): string => JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
