import type { StorageDriver } from "../storage/driver.js";
import { isPathNotFound } from "../storage/driver.js";
import { repositoriesRoot, uploadPath, uploadsRootPath } from "../storage/paths.js";
import { deleteIfExists, listIfExists } from "./links.js";

export interface PurgeResult {
  purged: string[];
  kept: number;
}

/** Claims an upload for the purge: false when a request is using it (it is then kept). */
export interface UploadClaim {
  tryClaim(id: string): boolean;
  release(id: string): void;
}

/**
 * Deletes upload sessions started before `olderThan` in every repository, as registry:2's upload
 * purging does. An upload whose `startedat` is missing or unreadable is judged by its directory's
 * modification time. With `claim`, an upload a request is using is kept, and no request can start
 * using one while it is being deleted.
 */
export async function purgeUploads(driver: StorageDriver, olderThan: Date, dryRun = false, claim?: UploadClaim): Promise<PurgeResult> {
  const result: PurgeResult = { purged: [], kept: 0 };
  let busy = false;
  const visit = async (name: string): Promise<void> => {
    const children = await listIfExists(driver, name === "" ? repositoriesRoot : `${repositoriesRoot}/${name}`);
    if (name !== "" && children.includes("_uploads")) {
      for (const id of await listIfExists(driver, uploadsRootPath(name))) {
        const started = await startedAt(driver, name, id);
        if (started !== undefined && started >= olderThan) {
          result.kept++;
          continue;
        }
        if (dryRun) {
          result.purged.push(`${name}/${id}`);
          continue;
        }
        if (claim && !claim.tryClaim(id)) {
          result.kept++;
          busy = true;
          continue;
        }
        try {
          await deleteIfExists(driver, uploadPath(name, id));
        } finally {
          claim?.release(id);
        }
        result.purged.push(`${name}/${id}`);
      }
    }
    for (const child of children) {
      if (!child.startsWith("_")) await visit(name === "" ? child : `${name}/${child}`);
    }
  };
  await visit("");
  // Writes a crash left unfinished where no session names them any more (multipart uploads on S3).
  // Kept sessions are younger than the cutoff, and so are their writes, unless a request kept an
  // old one alive: then this waits for the next purge.
  if (!dryRun && !busy && driver.capabilities.abortAbandoned) {
    for (const path of await driver.capabilities.abortAbandoned(repositoriesRoot, olderThan)) result.purged.push(path);
  }
  return result;
}

async function startedAt(driver: StorageDriver, name: string, id: string): Promise<Date | undefined> {
  try {
    const text = (await driver.getContent(`${uploadPath(name, id)}/startedat`)).toString("utf8").trim();
    const date = new Date(text);
    if (!Number.isNaN(date.getTime())) return date;
  } catch (err) {
    if (!isPathNotFound(err)) throw err;
  }
  try {
    return (await driver.stat(uploadPath(name, id))).modTime;
  } catch (err) {
    if (isPathNotFound(err)) return undefined;
    throw err;
  }
}
