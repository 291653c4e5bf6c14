import { hash, randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import type { Audit } from "../../auth/audit.js";
import type { Authenticator } from "../../auth/authenticator.js";
import { allActions, anonymous, type Action, type Grant, type Policy, type Principal } from "../../auth/policy.js";
import type { Throttle } from "../../auth/throttle.js";
import { RegistryError } from "../../oci/errors.js";
import { scopeOf, type AccessController, type AccessRequest } from "./access.js";
import { claimedActions, type TokenClaims } from "./claims.js";
import type { ExternalTokens } from "./external.js";
import type { TokenIssuer } from "./issuer.js";

/** How long verified Basic credentials are known without checking them again. */
const signedInMs = 60_000;
const signedInMax = 10_000;

export interface RegistryAccessOptions {
  /** basic: clients send credentials with every request; token: they get bearer tokens first. */
  mode: "basic" | "token";
  /** The Basic challenge's realm. */
  realm: string;
  /** The token service's URL for the Bearer challenge; absent: this server's /token. */
  tokenRealm: string | undefined;
  service: string;
  /** The registry's public URL (http.host), for the derived token realm. */
  publicUrl: string | undefined;
  authenticator: Authenticator | undefined;
  policy: Policy;
  issuer: TokenIssuer | undefined;
  external: ExternalTokens | undefined;
  throttle: Throttle;
  audit: Audit;
}

/**
 * Access control: who the caller is (Basic credentials, a bearer token, or nobody), what the
 * policy grants them, and whether that covers what the request needs. The anonymous are
 * challenged (401) so that clients sign in; a signed-in caller who lacks a right is denied (403),
 * except with bearer tokens, whose clients ask for a wider token on a 401 naming the scope.
 */
export class RegistryAccess implements AccessController {
  readonly enabled = true;
  /** Verified Basic credentials by keyed hash of the header (see basicGrant). */
  private readonly signedIn = new Map<string, { grant: Grant; until: number; generation: number }>();
  /** A key that lives only in this process, so that the hashes above say nothing of a password. */
  private readonly signedInKey = randomBytes(32).toString("base64");
  private anonymous: Grant | undefined;

  constructor(private readonly options: RegistryAccessOptions) {}

  get policy(): Policy {
    return this.options.policy;
  }

  /** Whether users sign in with a password here (with another issuer's tokens, they do not). */
  get passwords(): boolean {
    return this.options.external === undefined;
  }

  async authorize(req: IncomingMessage, access: AccessRequest[]): Promise<Grant> {
    const authorization = req.headers.authorization;
    if (authorization !== undefined && /^bearer /i.test(authorization)) return this.bearer(req, authorization.slice(7).trim(), access);
    const grant = authorization === undefined ? this.anonymousGrant() : await this.basicGrant(req, authorization);
    const principal = grant.principal;
    const missing = missingAccess(grant, access);
    if (principal.kind === "anonymous" && (missing.length > 0 || access.length === 0 || wantsCatalog(access))) throw this.challenge(req, missing.length > 0 ? missing : access);
    if (missing.length > 0) throw this.denied(req, principal, missing);
    if (access.length === 0) this.options.audit.record({ event: "login", user: principal.name, address: addressOf(req) });
    return grant;
  }

  /**
   * The grant of a request's Basic credentials. A logged-in client sends them with every request:
   * once verified, they are known by a keyed hash of the header (never the password itself) until
   * `signedInMs` passes or the users' files change, so a request pays one SHA-256, not a bcrypt,
   * a throttle check and a policy evaluation.
   */
  private async basicGrant(req: IncomingMessage, authorization: string): Promise<Grant> {
    const authenticator = this.options.authenticator;
    await authenticator?.refresh();
    const key = hash("sha256", this.signedInKey + authorization, "base64");
    const known = this.signedIn.get(key);
    const now = Date.now();
    if (known !== undefined && known.until > now && known.generation === authenticator?.generation) return known.grant;
    const principal = await this.basicPrincipal(req);
    const grant = this.grantFor(principal);
    // An OIDC token's own expiry decides how long it is good: not remembered here.
    if (principal.kind !== "anonymous" && principal.kind !== "oidc" && authenticator !== undefined) {
      if (this.signedIn.size >= signedInMax) this.signedIn.delete(this.signedIn.keys().next().value!);
      this.signedIn.set(key, { grant, until: Math.min(now + signedInMs, authenticator.expiresAt(principal)), generation: authenticator.generation });
    }
    return grant;
  }

  anonymousGrant(): Grant {
    this.anonymous ??= this.options.policy.grantFor(anonymous);
    return this.anonymous;
  }

  /** The principal behind a request's Basic credentials; anonymous without any; 401 when they are wrong. */
  async basicPrincipal(req: IncomingMessage): Promise<Principal> {
    const credentials = basicCredentials(req.headers.authorization);
    if (credentials === undefined) return anonymous;
    const principal = await this.passwordPrincipal(credentials.user, credentials.password, addressOf(req));
    if (principal === undefined) throw this.challenge(req, [], "invalid username or password");
    return principal;
  }

  /**
   * The user or robot a password signs in, or undefined (a failure, audited); TOOMANYREQUESTS while
   * the name or the address is throttled. Basic credentials and the web UI's sign-in both come here.
   */
  async passwordPrincipal(user: string, password: string, address: string): Promise<Principal | undefined> {
    const { throttle, audit, authenticator } = this.options;
    throttle.check(user, address);
    const principal = authenticator === undefined ? undefined : await authenticator.password(user, password);
    if (principal === undefined) {
      throttle.fail(user, address);
      audit.record({ event: "auth-failure", user, address, reason: "wrong username or password" });
      return undefined;
    }
    throttle.succeed(user);
    return principal;
  }

  /** The principal a token's subject names, as it stands now (a removed user has none). */
  async currentPrincipal(kind: Principal["kind"], name: string, groups: readonly string[]): Promise<Principal | undefined> {
    if (kind === "anonymous") return anonymous;
    return this.options.authenticator?.current(kind, name, groups);
  }

  grantFor(principal: Principal): Grant {
    return principal.kind === "robot" && this.options.authenticator !== undefined ? this.options.authenticator.robotGrant(principal) : this.options.policy.grantFor(principal);
  }

  /** What a principal may have of the scopes asked for: never more than asked, never more than granted. */
  narrow(principal: Principal, requested: readonly AccessRequest[]): AccessRequest[] {
    const grant = this.grantFor(principal);
    const granted: AccessRequest[] = [];
    for (const request of requested) {
      if (request.type === "registry") {
        if (request.name === "catalog") granted.push({ type: "registry", name: "catalog", actions: ["*"] });
        continue;
      }
      const asked = request.actions.includes("*") ? allActions : (request.actions as Action[]);
      const actions = asked.filter((a) => grant.all || grant.actions(request.name).has(a));
      if (actions.length > 0) granted.push({ type: "repository", name: request.name, actions });
    }
    return granted;
  }

  private async bearer(req: IncomingMessage, token: string, access: AccessRequest[]): Promise<Grant> {
    let claims: TokenClaims;
    try {
      claims = await this.verifyToken(token);
    } catch (err) {
      this.options.audit.record({ event: "auth-failure", user: "", address: addressOf(req), reason: `bearer token refused: ${(err as Error).message}` });
      throw this.challenge(req, access, `invalid token: ${(err as Error).message}`, "invalid_token");
    }
    const principal: Principal = { kind: claims.kind ?? "user", name: claims.sub === "" ? "anonymous" : claims.sub, groups: claims.groups ?? [] };
    const grant: Grant = { principal, all: false, actions: (repository) => claimedActions(claims, repository) };
    const missing = missingAccess(grant, access);
    const catalog = wantsCatalog(access);
    if (catalog && !claims.access.some((a) => a.type === "registry" && a.name === "catalog")) missing.push({ type: "registry", name: "catalog", actions: ["*"] });
    if (missing.length > 0) throw this.challenge(req, missing, "the token does not grant this", "insufficient_scope");
    if (!catalog) return grant;
    // The catalog lists what the subject may pull now: the policy's answer, not the token's few names.
    if (this.options.issuer === undefined) return { principal, all: true, actions: () => new Set(allActions) };
    const current = await this.currentPrincipal(principal.kind, principal.name, principal.groups);
    return current === undefined ? grant : this.grantFor(current);
  }

  private verifyToken(token: string): Promise<TokenClaims> {
    const { issuer, external } = this.options;
    if (issuer !== undefined) return issuer.verify(token);
    if (external !== undefined) return external.verify(token);
    return Promise.reject(new Error("this registry accepts no bearer tokens"));
  }

  /** 401 with the challenge that makes a client sign in (and, with tokens, ask for the missing scope). */
  challenge(req: IncomingMessage, missing: readonly AccessRequest[], message = "authentication required", error?: string): RegistryError {
    const scope = scopeOf(missing);
    let header: string;
    if (this.options.mode === "basic") header = `Basic realm="${this.options.realm}", charset="UTF-8"`;
    else {
      header = `Bearer realm="${this.tokenRealm(req)}",service="${this.options.service}"`;
      if (scope !== "") header += `,scope="${scope}"`;
      if (error !== undefined) header += `,error="${error}"`;
    }
    const detail = missing.map((a) => ({ Type: a.type, Name: a.name, Action: a.actions.join(",") }));
    return new RegistryError("UNAUTHORIZED", message, { headers: { "WWW-Authenticate": header }, ...(detail.length > 0 ? { detail } : {}) });
  }

  private denied(req: IncomingMessage, principal: Principal, missing: readonly AccessRequest[]): RegistryError {
    const scope = scopeOf(missing);
    this.options.audit.record({ event: "denied", user: principal.name, address: addressOf(req), scope });
    return new RegistryError("DENIED", `${principal.name} may not ${scope.replaceAll(" ", ", ")}`, {
      detail: missing.map((a) => ({ Type: a.type, Name: a.name, Action: a.actions.join(",") })),
    });
  }

  private tokenRealm(req: IncomingMessage): string {
    if (this.options.tokenRealm !== undefined) return this.options.tokenRealm;
    if (this.options.publicUrl !== undefined) return new URL("/token", this.options.publicUrl).toString();
    const forwarded = req.headers["x-forwarded-proto"];
    const proto = typeof forwarded === "string" ? forwarded.split(",")[0]!.trim() : (req.socket as TLSSocket).encrypted ? "https" : "http";
    return `${proto}://${req.headers.host ?? "localhost"}/token`;
  }
}

/**
 * The catalog is asked with credentials (as registry:2 asks for it): an anonymous request is
 * challenged, so that a client that offers credentials only when challenged lists what its user
 * may pull, not what the anonymous may. With tokens, the anonymous get an anonymous token and see
 * what they may pull.
 */
function wantsCatalog(access: readonly AccessRequest[]): boolean {
  return access.some((a) => a.type === "registry" && a.name === "catalog");
}

/** The parts of `access` the grant does not cover. The catalog is open to every caller: it lists only what they may pull. */
function missingAccess(grant: Grant, access: readonly AccessRequest[]): AccessRequest[] {
  if (grant.all) return [];
  const missing: AccessRequest[] = [];
  for (const request of access) {
    if (request.type !== "repository") continue;
    const actions = grant.actions(request.name);
    const lacking = request.actions.filter((a) => (a === "*" ? allActions.some((x) => !actions.has(x)) : !actions.has(a)));
    if (lacking.length > 0) missing.push({ ...request, actions: lacking });
  }
  return missing;
}

export function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  if (header === undefined || !/^basic /i.test(header)) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon === -1) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function addressOf(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? "unknown";
}
