import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { fileVersion } from "./files.js";
import { Groups } from "./groups.js";
import { Htpasswd } from "./htpasswd.js";
import { RegistryError } from "../oci/errors.js";
import { OidcUnavailable, type OidcVerifier } from "./oidc.js";
import { ScopedGrant, type Grant, type Principal } from "./policy.js";
import { Robots, robotNameOf } from "./robots.js";

export interface AuthenticatorOptions {
  htpasswd?: string;
  groups?: string;
  robots?: string;
  oidc?: OidcVerifier;
  warn: (message: string) => void;
}

/** How long a verified password is trusted without bcrypt again (while its file is unchanged). */
const verifiedTtlMs = 10 * 60_000;
const verifiedMax = 10_000;
/** How often the user, group and robot files are looked at for changes. */
const refreshMs = 1000;

interface Verified {
  mac: Buffer;
  expires: number;
}

/**
 * Turns credentials into principals: htpasswd users (with their groups), robot secrets, and OIDC
 * ID tokens given as a password. The files are re-read when they change (checked at most once a
 * second), so `lading user` and `lading token` take effect on a running server.
 *
 * bcrypt is slow by design, and a logged-in client sends its password with every request: a
 * password that verified is remembered as an HMAC under a key that lives only in this process
 * (never the password itself), compared in constant time, forgotten after ten minutes or as soon
 * as the htpasswd file changes.
 */
export class Authenticator {
  private users: Htpasswd | undefined;
  private groupsFile: Groups | undefined;
  private robotsFile: Robots | undefined;
  private versions = "";
  private checked = 0;
  private refreshing: Promise<void> | undefined;
  private reloads = 0;
  private readonly macKey = randomBytes(32);
  private readonly verified = new Map<string, Verified>();
  private readonly inFlight = new Map<string, Promise<boolean>>();

  private constructor(private readonly options: AuthenticatorOptions) {}

  static async open(options: AuthenticatorOptions): Promise<Authenticator> {
    const authenticator = new Authenticator(options);
    await authenticator.reload(true);
    const weak = authenticator.users?.weak() ?? [];
    if (weak.length > 0) options.warn(`htpasswd ${options.htpasswd}: bcrypt cost below 10 for ${weak.join(", ")}: reset with lading user passwd`);
    return authenticator;
  }

  /** The principal a username and password (or robot secret, or OIDC ID token) stand for; undefined when wrong. */
  async password(user: string, password: string): Promise<Principal | undefined> {
    await this.refresh();
    if (robotNameOf(password) !== undefined) {
      const robot = this.robotsFile?.verify(password);
      return robot === undefined ? undefined : { kind: "robot", name: `robot:${robot.name}`, groups: [] };
    }
    if (this.options.oidc?.recognizes(password)) {
      const workload = await this.options.oidc.verify(password).catch((err: unknown) => {
        // The issuer could not be asked: the caller is not wrong, the service is unavailable.
        throw err instanceof OidcUnavailable ? new RegistryError("UNAVAILABLE", err.message, { cause: err }) : err;
      });
      return workload === undefined ? undefined : { ...workload, name: `oidc:${workload.name}` };
    }
    if (this.users === undefined || !(await this.checkPassword(this.users, user, password))) return undefined;
    return { kind: "user", name: user, groups: this.groupsFile?.of(user) ?? [] };
  }

  /** An OIDC ID token on its own (the token endpoint's `password` grant may carry one). */
  recognizesIdToken(token: string): boolean {
    return this.options.oidc?.recognizes(token) ?? false;
  }

  /**
   * The principal a token's subject names, as it stands now: a removed user or a revoked robot no
   * longer has one. OIDC principals live only in their tokens.
   */
  async current(kind: Principal["kind"], name: string, groups: readonly string[]): Promise<Principal | undefined> {
    await this.refresh();
    if (kind === "user") return this.users?.has(name) ? { kind, name, groups: this.groupsFile?.of(name) ?? [] } : undefined;
    if (kind === "robot") return this.robot(name) === undefined ? undefined : { kind, name, groups: [] };
    return { kind, name, groups };
  }

  /** When a principal's credentials stop working by themselves (a robot's expiry), ms since the epoch. */
  expiresAt(principal: Principal): number {
    const expires = principal.kind === "robot" ? this.robot(principal.name)?.expires : undefined;
    return expires === undefined ? Infinity : Date.parse(expires);
  }

  /** A robot's fixed grant; robots stand outside the policy. */
  robotGrant(principal: Principal): Grant {
    const robot = this.robot(principal.name);
    return new ScopedGrant(principal, robot === undefined ? [] : [{ repositories: robot.repositories, actions: robot.actions }]);
  }

  private robot(principalName: string) {
    const name = principalName.startsWith("robot:") ? principalName.slice("robot:".length) : undefined;
    const robot = name === undefined ? undefined : this.robotsFile?.list().find((r) => r.name === name);
    if (robot?.expires !== undefined && Date.parse(robot.expires) <= Date.now()) return undefined;
    return robot;
  }

  private async checkPassword(users: Htpasswd, user: string, password: string): Promise<boolean> {
    const mac = createHmac("sha256", this.macKey).update(user).update("\0").update(password).digest();
    const known = this.verified.get(user);
    const now = Date.now();
    if (known !== undefined && known.expires > now && timingSafeEqual(known.mac, mac)) return true;
    // Concurrent requests with the same credentials share one bcrypt.
    const key = mac.toString("base64");
    let pending = this.inFlight.get(key);
    if (pending === undefined) {
      pending = users.verify(user, password).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    const ok = await pending;
    if (ok && this.users === users) {
      if (this.verified.size >= verifiedMax) this.verified.delete(this.verified.keys().next().value!);
      this.verified.delete(user);
      this.verified.set(user, { mac, expires: now + verifiedTtlMs });
    }
    return ok;
  }

  /** Changes whenever the users, groups or robots read from the files change. */
  get generation(): number {
    return this.reloads;
  }

  /** Looks at the files again if a second has passed since the last look. */
  refresh(): Promise<void> {
    const now = Date.now();
    if (now - this.checked < refreshMs) return Promise.resolve();
    this.checked = now;
    this.refreshing ??= this.reload(false).finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /** Reads the files again when any changed; at start a broken file is fatal, later it is kept as it was and reported. */
  private async reload(starting: boolean): Promise<void> {
    const { htpasswd, groups, robots } = this.options;
    const versions = (await Promise.all([htpasswd, groups, robots].map((f) => (f === undefined ? "" : fileVersion(f))))).join("|");
    if (versions === this.versions) return;
    try {
      const [users, groupsFile, robotsFile] = await Promise.all([
        htpasswd === undefined ? undefined : Htpasswd.load(htpasswd, { missingOk: !starting }),
        groups === undefined ? undefined : Groups.load(groups),
        robots === undefined ? undefined : Robots.load(robots),
      ]);
      this.users = users;
      this.groupsFile = groupsFile;
      this.robotsFile = robotsFile;
      this.versions = versions;
      this.reloads++;
      this.verified.clear();
    } catch (err) {
      if (starting) throw err;
      this.options.warn(`${(err as Error).message}; keeping the users, groups and robots read before`);
    }
  }
}
