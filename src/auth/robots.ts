import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { AuthFileError, isValidName } from "./htpasswd.js";
import { readTextFile, writeFileAtomic } from "./files.js";
import type { Action } from "./policy.js";

/** A robot account: a secret that grants fixed actions on fixed repositories, for CI. */
export interface Robot {
  name: string;
  /** sha256 of the secret, hex: the secret itself is shown once and never stored. */
  hash: string;
  repositories: string[];
  actions: Action[];
  created: string;
  /** ISO time after which the secret no longer works; absent: never. */
  expires?: string;
}

const prefix = "lading_robot_";

/** A robot's secret names the robot (whose name has no `_`), so a lookup needs no scan: `lading_robot_<name>_<hex>`. */
export function robotNameOf(secret: string): string | undefined {
  if (!secret.startsWith(prefix)) return undefined;
  const rest = secret.slice(prefix.length);
  const cut = rest.indexOf("_");
  return cut <= 0 ? undefined : rest.slice(0, cut);
}

function hashOf(secret: string): Buffer {
  return createHash("sha256").update(secret).digest();
}

/** The robot tokens file: JSON, one object per robot, beside the htpasswd file. */
export class Robots {
  private constructor(private readonly byName: Map<string, Robot>) {}

  static parse(text: string, file: string): Robots {
    const byName = new Map<string, Robot>();
    if (text.trim() === "") return new Robots(byName);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new AuthFileError(`${file}: not valid JSON (${(err as Error).message})`);
    }
    const list = (doc as { robots?: unknown }).robots;
    if (!Array.isArray(list)) throw new AuthFileError(`${file}: expected {"robots": [...]}`);
    for (const robot of list as Robot[]) {
      if (typeof robot?.name !== "string" || typeof robot.hash !== "string" || !Array.isArray(robot.repositories) || !Array.isArray(robot.actions)) {
        throw new AuthFileError(`${file}: a robot needs name, hash, repositories and actions`);
      }
      byName.set(robot.name, robot);
    }
    return new Robots(byName);
  }

  static async load(file: string): Promise<Robots> {
    return Robots.parse((await readTextFile(file, true)) ?? "", file);
  }

  list(): Robot[] {
    return [...this.byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The robot a secret belongs to, if the secret is right and has not expired. */
  verify(secret: string, now = Date.now()): Robot | undefined {
    const name = robotNameOf(secret);
    const robot = name === undefined ? undefined : this.byName.get(name);
    if (robot === undefined) return undefined;
    const stored = Buffer.from(robot.hash, "hex");
    const given = hashOf(secret);
    if (stored.length !== given.length || !timingSafeEqual(stored, given)) return undefined;
    if (robot.expires !== undefined && Date.parse(robot.expires) <= now) return undefined;
    return robot;
  }

  /** Adds a robot and returns its secret, the only time it is ever seen. */
  create(spec: { name: string; repositories: string[]; actions: Action[]; expiresInMs?: number }, now = Date.now()): string {
    if (!isValidName(spec.name) || spec.name.includes("_")) throw new AuthFileError(`invalid robot name ${JSON.stringify(spec.name)}: letters, digits, '.', '-' and '@'`);
    if (this.byName.has(spec.name)) throw new AuthFileError(`a robot named ${spec.name} exists; revoke it first`);
    const secret = `${prefix}${spec.name}_${randomBytes(32).toString("hex")}`;
    const robot: Robot = {
      name: spec.name,
      hash: hashOf(secret).toString("hex"),
      repositories: spec.repositories,
      actions: spec.actions,
      created: new Date(now).toISOString(),
    };
    if (spec.expiresInMs !== undefined) robot.expires = new Date(now + spec.expiresInMs).toISOString();
    this.byName.set(spec.name, robot);
    return secret;
  }

  revoke(name: string): boolean {
    return this.byName.delete(name);
  }

  async save(file: string): Promise<void> {
    await writeFileAtomic(file, `${JSON.stringify({ robots: this.list() }, null, 2)}\n`);
  }
}
