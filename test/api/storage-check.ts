import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";

/**
 * Everything wrong under a storage root: a blob data file whose bytes do not hash to its path, a link
 * file that is not one digest (or names another digest than its path), a link to a blob that is not
 * stored, or any file that is neither `data`, `link` nor `startedat` (a temporary file left behind).
 *
 * `temporaries`: where lading's own temporary files (`.lading-tmp-<name>`, beside the file a write
 * was about to replace) are accepted: nowhere (the default: a running or gracefully stopped
 * registry has none), only in upload sessions, or anywhere (a store whose lading was just killed,
 * before a restart uses them up). registry:2 ignores such files and lading hides them.
 */
export async function storageProblems(root: string, temporaries: "none" | "uploads" | "anywhere" = "none"): Promise<string[]> {
  const base = join(root, "docker/registry/v2");
  const problems: string[] = [];
  // A store whose writes are all still in the journal (a kill right after them) has no tree yet.
  const entries = await readdir(base, { recursive: true, withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return [];
    throw err;
  });
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    const rel = full.slice(base.length + 1);
    const parts = rel.split("/");
    if (entry.name.startsWith(".lading-tmp-") && (temporaries === "anywhere" || (temporaries === "uploads" && parts.includes("_uploads")))) continue;
    const content = await readFile(full);
    if (entry.name === "data" && parts[0] === "blobs") {
      const [, alg, two, hex] = parts;
      if ((alg !== "sha256" && alg !== "sha512") || hex === undefined || two !== hex.slice(0, 2)) {
        problems.push(`${rel}: not a blob path`);
        continue;
      }
      const actual = createHash(alg).update(content).digest("hex");
      if (actual !== hex) problems.push(`${rel}: content hashes to ${alg}:${actual}`);
    } else if (entry.name === "link") {
      const text = content.toString("utf8");
      const match = /^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/.exec(text);
      if (!match) {
        problems.push(`${rel}: link holds ${JSON.stringify(text.slice(0, 80))}`);
        continue;
      }
      const [alg, hex] = text.split(":") as [string, string];
      const dir = parts.slice(0, -1);
      if (dir.at(-1) !== "current" && (dir.at(-2) !== alg || dir.at(-1) !== hex)) problems.push(`${rel}: link names ${text}`);
      const blob = join(base, "blobs", alg, hex.slice(0, 2), hex, "data");
      if (!(await stat(blob).catch(() => undefined))) problems.push(`${rel}: links to ${text}, which is not stored`);
    } else if (!(entry.name === "data" && parts.includes("_uploads")) && entry.name !== "startedat") {
      problems.push(`${rel}: unexpected file`);
    }
  }
  return problems;
}
