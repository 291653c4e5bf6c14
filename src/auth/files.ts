import { randomBytes } from "node:crypto";
import { readFile, rename, rm, stat, writeFile } from "node:fs/promises";

/** A file's text; undefined when it does not exist and that is allowed. */
export async function readTextFile(file: string, missingOk: boolean): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if (missingOk && (err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new Error(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** Writes a secrets file whole under a temporary name and renames it into place (mode 0600). */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  const temporary = `${file}.tmp-${randomBytes(6).toString("hex")}`;
  try {
    await writeFile(temporary, text, { mode: 0o600, flush: true });
    await rename(temporary, file);
  } catch (err) {
    await rm(temporary, { force: true });
    throw new Error(`cannot write ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** Identifies a file's version: it changes when the file is replaced or rewritten. */
export async function fileVersion(file: string): Promise<string> {
  try {
    const info = await stat(file, { bigint: true });
    return `${info.ino}:${info.mtimeNs}:${info.size}`;
  } catch {
    return "absent";
  }
}
