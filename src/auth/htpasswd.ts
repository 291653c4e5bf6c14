import bcrypt from "bcryptjs";
import { readTextFile, writeFileAtomic } from "./files.js";

/** bcrypt's cost for passwords lading writes; `htpasswd -B` defaults to 5, too cheap to guess against. */
export const bcryptCost = 12;
/** Below this cost the server warns: such a hash is cheap to attack offline. */
export const minimumCost = 10;

export class AuthFileError extends Error {
  override name = "AuthFileError";
}

/**
 * An htpasswd file of bcrypt entries (`user:$2y$10$...`), as `htpasswd -B` writes it and registry:2
 * reads it. Other hash schemes (MD5, SHA-1, crypt) are refused: they are too weak to keep.
 */
export class Htpasswd {
  private constructor(private readonly entries: Map<string, string>) {}

  static parse(text: string, file: string): Htpasswd {
    const entries = new Map<string, string>();
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) return;
      const colon = line.indexOf(":");
      if (colon <= 0) throw new AuthFileError(`${file} line ${i + 1}: expected user:hash`);
      const user = line.slice(0, colon);
      const hash = line.slice(colon + 1);
      if (!/^\$2[abxy]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
        throw new AuthFileError(`${file} line ${i + 1}: user ${user} has no bcrypt hash (make entries with htpasswd -B or lading user add)`);
      }
      entries.set(user, hash);
    });
    return new Htpasswd(entries);
  }

  static async load(file: string, options: { missingOk?: boolean } = {}): Promise<Htpasswd> {
    const text = await readTextFile(file, options.missingOk === true);
    return Htpasswd.parse(text ?? "", file);
  }

  users(): string[] {
    return [...this.entries.keys()].sort();
  }

  has(user: string): boolean {
    return this.entries.has(user);
  }

  /** Users whose hash costs less than `minimumCost`. */
  weak(): string[] {
    return this.users().filter((user) => Number(this.entries.get(user)!.slice(4, 6)) < minimumCost);
  }

  /** Checks a password; a user who does not exist costs the same time as a wrong password. */
  async verify(user: string, password: string): Promise<boolean> {
    const hash = this.entries.get(user) ?? decoy;
    const ok = await bcrypt.compare(password, hash);
    return ok && this.entries.has(user);
  }

  async setPassword(user: string, password: string): Promise<void> {
    this.entries.set(user, await bcrypt.hash(password, bcryptCost));
  }

  remove(user: string): boolean {
    return this.entries.delete(user);
  }

  async save(file: string): Promise<void> {
    const lines = this.users().map((user) => `${user}:${this.entries.get(user)!}\n`);
    await writeFileAtomic(file, lines.join(""));
  }
}

/** A hash no password matches in practice, checked against when the user is unknown. */
const decoy = bcrypt.hashSync("lading-decoy-password", minimumCost);

/** Names of users, groups and robots: what fits in an htpasswd line and a policy file. */
export function isValidName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/.test(name);
}
