import { AuthFileError, isValidName } from "./htpasswd.js";
import { readTextFile, writeFileAtomic } from "./files.js";

/**
 * Users' groups, one line per user beside the htpasswd file: `alice:admin,dev`. A user with no
 * line is in no group.
 */
export class Groups {
  private constructor(private readonly byUser: Map<string, string[]>) {}

  static parse(text: string, file: string): Groups {
    const byUser = new Map<string, string[]>();
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) return;
      const colon = line.indexOf(":");
      const user = colon === -1 ? "" : line.slice(0, colon).trim();
      const groups = colon === -1 ? [] : line.slice(colon + 1).split(",").map((g) => g.trim()).filter((g) => g !== "");
      if (!isValidName(user) || !groups.every(isValidName)) throw new AuthFileError(`${file} line ${i + 1}: expected user:group[,group...]`);
      byUser.set(user, groups);
    });
    return new Groups(byUser);
  }

  static async load(file: string): Promise<Groups> {
    return Groups.parse((await readTextFile(file, true)) ?? "", file);
  }

  of(user: string): readonly string[] {
    return this.byUser.get(user) ?? [];
  }

  set(user: string, groups: readonly string[]): void {
    if (groups.length === 0) this.byUser.delete(user);
    else this.byUser.set(user, [...new Set(groups)].sort());
  }

  async save(file: string): Promise<void> {
    const users = [...this.byUser.keys()].sort();
    await writeFileAtomic(file, users.map((user) => `${user}:${this.byUser.get(user)!.join(",")}\n`).join(""));
  }
}
