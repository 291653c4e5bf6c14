import { createHmac, randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { jwtVerify, SignJWT } from "jose";
import type { Audit } from "../auth/audit.js";
import { type Grant, type Principal } from "../auth/policy.js";
import { RegistryError } from "../oci/errors.js";
import type { AccessController } from "../server/auth/access.js";
import { addressOf, RegistryAccess } from "../server/auth/controller.js";
import type { KeyStore } from "../server/auth/keys.js";
import { apiPrefix } from "./types.js";

export const cookieName = "lading_session";

/** Who is asking through the web UI, and the token their changes must carry. */
export interface Caller {
  principal: Principal | undefined;
  grant: Grant;
  csrf: string;
}

interface SessionClaims {
  kind: Principal["kind"];
  groups: string[];
  csrf: string;
}

/**
 * Sign-ins of the web UI: a user of the registry (the htpasswd users, robots) signs in with their
 * password, and gets a cookie (`HttpOnly`, `SameSite=Strict`, `Secure` over TLS, only sent to
 * /api/v1/) holding a token signed with a key kept where the token service keeps its own, so every
 * replica accepts it. What the user may do is looked up at every request (a removed user is signed
 * out at once). Every change also carries the session's CSRF token in a header, which another
 * site's page can neither read nor send, and a request whose Origin is another site is refused.
 */
export class Sessions {
  private key: Promise<Uint8Array> | undefined;

  constructor(
    private readonly access: AccessController,
    private readonly keys: KeyStore | undefined,
    private readonly audit: Audit | undefined,
    private readonly options: { ttlMs: number; secure: boolean },
  ) {}

  /** Whether users sign in at all (access control is on, with users of the registry's own). */
  get signIn(): boolean {
    return this.access instanceof RegistryAccess && this.access.passwords;
  }

  private secret(): Promise<Uint8Array> {
    this.key ??= (async () => {
      const fresh = randomBytes(32).toString("base64");
      const stored = this.keys === undefined ? fresh : ((await this.keys.read()) ?? (await this.keys.create(fresh)));
      return Buffer.from(stored.trim(), "base64");
    })().catch((err: unknown) => {
      this.key = undefined;
      throw err;
    });
    return this.key;
  }

  /** The caller of a request: their session's user, or the anonymous. */
  async caller(req: IncomingMessage): Promise<Caller> {
    const token = cookieOf(req, cookieName);
    if (token !== undefined && this.access instanceof RegistryAccess) {
      const claims = await jwtVerify<SessionClaims>(token, await this.secret(), { algorithms: ["HS256"] }).then(
        (verified) => verified.payload,
        () => undefined,
      );
      const principal = claims?.sub === undefined ? undefined : await this.access.currentPrincipal(claims.kind, claims.sub, claims.groups ?? []);
      if (principal !== undefined && claims !== undefined) return { principal, grant: this.access.grantFor(principal), csrf: claims.csrf };
    }
    return { principal: undefined, grant: this.access.anonymousGrant(), csrf: await this.anonymousCsrf() };
  }

  /** Refuses a request another site's page sent (browsers name the page's site in Origin). */
  checkOrigin(req: IncomingMessage): void {
    const origin = req.headers.origin;
    if (origin !== undefined && hostOf(origin) !== req.headers.host) throw new RegistryError("DENIED", "a change from another site's page is refused");
  }

  /** A change: the Origin, when sent, is this site, and the CSRF header is the caller's. */
  async changer(req: IncomingMessage): Promise<Caller> {
    this.checkOrigin(req);
    const caller = await this.caller(req);
    if (req.headers["x-csrf-token"] !== caller.csrf) throw new RegistryError("DENIED", "the request lacks this session's X-CSRF-Token header: reload the page");
    return caller;
  }

  /** Signs a user in: the cookie to set, or UNAUTHORIZED (without a challenge: the page asks, not the browser). */
  async signInWith(req: IncomingMessage, user: string, password: string): Promise<{ cookie: string; caller: Caller }> {
    if (!(this.access instanceof RegistryAccess) || !this.access.passwords) throw new RegistryError("UNSUPPORTED", "this registry has no users of its own to sign in: there is nothing to sign in to", { status: 404 });
    const address = addressOf(req);
    const principal = await this.access.passwordPrincipal(user, password, address);
    if (principal === undefined) throw new RegistryError("UNAUTHORIZED", "wrong user name or password");
    const csrf = randomBytes(18).toString("base64url");
    const token = await new SignJWT({ kind: principal.kind, groups: [...principal.groups], csrf })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(principal.name)
      .setIssuedAt()
      .setExpirationTime(new Date(Date.now() + this.options.ttlMs))
      .sign(await this.secret());
    this.audit?.record({ event: "login", user: principal.name, address });
    return { cookie: this.cookie(token, Math.floor(this.options.ttlMs / 1000)), caller: { principal, grant: this.access.grantFor(principal), csrf } };
  }

  /** The cookie that ends a session. */
  signOutCookie(): string {
    return this.cookie("", 0);
  }

  private cookie(value: string, maxAge: number): string {
    return `${cookieName}=${value}; Path=${apiPrefix}; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${this.options.secure ? "; Secure" : ""}`;
  }

  /** Without a session, the CSRF token is the same for every anonymous visitor: it still proves the page is this site's. */
  private async anonymousCsrf(): Promise<string> {
    return createHmac("sha256", await this.secret()).update("anonymous").digest("base64url").slice(0, 24);
  }
}

function cookieOf(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}
