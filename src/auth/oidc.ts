import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import type { OidcIssuer } from "../config/auth.js";
import type { Principal } from "./policy.js";

/*
 * Keyless CI: a workload presents its OIDC ID token (GitHub Actions, GitLab, Kubernetes service
 * accounts...) instead of a password. The issuer's keys come from its discovery document's
 * jwks_uri; a token is good when it is signed by one of them, names the issuer and an accepted
 * audience, is within its lifetime, and carries every claim value the configuration pins. Its
 * principal's name is the subject template filled from its claims.
 *
 * A bad token is an answer (undefined, with a reason from check()); an issuer that cannot be
 * reached is not, so it throws OidcUnavailable and the caller can answer 503 instead of 401.
 */

export type OidcCheck = { ok: true; principal: Principal } | { ok: false; reason: string };

export interface OidcVerifierOptions {
  /** How long to wait for the issuer's discovery document or keys, in ms (default 5000). */
  timeoutMs?: number;
  /** Least time between two key fetches prompted by an unknown kid, in ms (default 30000). */
  jwksCooldownMs?: number;
  /** Clock-skew allowance on exp and nbf, in seconds (default 60, as for registry tokens). */
  leewaySeconds?: number;
}

/** The issuer could not be asked (discovery or key fetch failed): nothing is known about the token. */
export class OidcUnavailable extends Error {
  override readonly name = "OidcUnavailable";
}

/** Public-key algorithms only: an ID token signed with a shared secret proves nothing to us. */
const algorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"];

/** Failures that are the token's fault when they happen while picking its key. */
const tokenFaults = new Set(["ERR_JWKS_NO_MATCHING_KEY", "ERR_JWKS_MULTIPLE_MATCHING_KEYS", "ERR_JOSE_NOT_SUPPORTED"]);

export class OidcVerifier {
  /** By issuer URL: several configured entries may share one issuer (e.g. per audience or ref). */
  private readonly providers = new Map<string, Provider>();
  private readonly leeway: number;

  constructor(issuers: readonly OidcIssuer[], options: OidcVerifierOptions = {}) {
    this.leeway = options.leewaySeconds ?? 60;
    for (const entry of issuers) {
      let provider = this.providers.get(entry.issuer);
      if (provider === undefined) this.providers.set(entry.issuer, (provider = new Provider(entry.issuer, options)));
      provider.entries.push(entry);
    }
  }

  /** Cheap, unverified: the string is a JWT whose iss is a configured issuer. */
  recognizes(token: string): boolean {
    const iss = unverifiedIssuer(token);
    return iss !== undefined && this.providers.has(iss);
  }

  /** The principal of a valid ID token, undefined for any other; throws OidcUnavailable when the issuer cannot be asked. */
  async verify(token: string): Promise<Principal | undefined> {
    const result = await this.check(token);
    return result.ok ? result.principal : undefined;
  }

  /** verify() with the reason a token is refused, in one line fit for a log. */
  async check(token: string): Promise<OidcCheck> {
    const iss = unverifiedIssuer(token);
    if (iss === undefined) return refuse("not a JWT with an iss claim");
    const provider = this.providers.get(iss);
    if (provider === undefined) return refuse(`issuer ${JSON.stringify(iss)} is not configured`);
    const getKey = await provider.keys();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, getKey, { issuer: iss, algorithms, clockTolerance: this.leeway, requiredClaims: ["exp"] }));
    } catch (err) {
      if (err instanceof OidcUnavailable) throw err;
      return refuse(explain(err, token));
    }
    const reasons: string[] = [];
    for (const entry of provider.entries) {
      const mismatch = audienceMismatch(entry, payload) ?? claimMismatch(entry, payload);
      const name = mismatch === undefined ? fillSubject(entry.subject, payload) : { refused: mismatch };
      if (typeof name === "string") return { ok: true, principal: { kind: "oidc", name, groups: [...entry.groups] } };
      reasons.push(name.refused);
    }
    return refuse(reasons.join("; "));
  }
}

/** One issuer: its discovery document, read once, and its key set (jose caches and refetches on unknown kids). */
class Provider {
  readonly entries: OidcIssuer[] = [];
  private discovered: Promise<JWTVerifyGetKey> | undefined;

  constructor(
    readonly issuer: string,
    private readonly options: OidcVerifierOptions,
  ) {}

  /** A failed discovery is not cached: the next token asks again. */
  keys(): Promise<JWTVerifyGetKey> {
    if (this.discovered === undefined) {
      const pending = this.discover();
      this.discovered = pending;
      pending.catch(() => {
        if (this.discovered === pending) this.discovered = undefined;
      });
    }
    return this.discovered;
  }

  private async discover(): Promise<JWTVerifyGetKey> {
    const where = `${this.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
    const unavailable = (what: string, cause?: unknown) => new OidcUnavailable(`OIDC issuer ${this.issuer}: ${what}`, { cause });
    let document: unknown;
    try {
      const response = await fetch(where, { headers: { accept: "application/json" }, signal: AbortSignal.timeout(this.options.timeoutMs ?? 5000) });
      if (!response.ok) throw unavailable(`${where} answered ${response.status}`);
      document = await response.json();
    } catch (err) {
      throw err instanceof OidcUnavailable ? err : unavailable(`cannot read ${where} (${describe(err)})`, err);
    }
    const { issuer, jwks_uri: jwksUri } = (document ?? {}) as { issuer?: unknown; jwks_uri?: unknown };
    if (issuer !== this.issuer) throw unavailable(`its discovery document names issuer ${JSON.stringify(issuer)}`);
    let jwksUrl: URL;
    try {
      jwksUrl = new URL(String(jwksUri));
    } catch (err) {
      throw unavailable(`its discovery document has no usable jwks_uri (${JSON.stringify(jwksUri)})`, err);
    }
    const remote = createRemoteJWKSet(jwksUrl, {
      timeoutDuration: this.options.timeoutMs ?? 5000,
      ...(this.options.jwksCooldownMs === undefined ? {} : { cooldownDuration: this.options.jwksCooldownMs }),
    });
    return async (header, token) => {
      try {
        return await remote(header, token);
      } catch (err) {
        if (err instanceof errors.JOSEError && tokenFaults.has(err.code)) throw err;
        throw unavailable(`cannot fetch its keys from ${jwksUrl.href} (${describe(err)})`, err);
      }
    };
  }
}

function refuse(reason: string): OidcCheck {
  return { ok: false, reason };
}

function unverifiedIssuer(token: string): string | undefined {
  try {
    const { iss } = decodeJwt(token);
    return typeof iss === "string" ? iss : undefined;
  } catch {
    return undefined;
  }
}

function audienceMismatch(entry: OidcIssuer, payload: JWTPayload): string | undefined {
  const wanted = typeof entry.audience === "string" ? [entry.audience] : entry.audience;
  const given = typeof payload.aud === "string" ? [payload.aud] : Array.isArray(payload.aud) ? payload.aud : [];
  if (given.some((a) => wanted.includes(a))) return undefined;
  return `audience ${JSON.stringify(payload.aud ?? null)} is not ${wanted.map((a) => JSON.stringify(a)).join(" or ")}`;
}

function claimMismatch(entry: OidcIssuer, payload: JWTPayload): string | undefined {
  for (const [claim, expected] of Object.entries(entry.claims)) {
    const value = scalar(payload[claim]);
    if (value !== expected) return `claim ${claim} is ${JSON.stringify(payload[claim] ?? null)}, not ${JSON.stringify(expected)}`;
  }
  return undefined;
}

/** The subject template ("ci:{repository}") filled from the claims; every named claim must be there. */
function fillSubject(template: string, payload: JWTPayload): string | { refused: string } {
  const missing: string[] = [];
  const name = template.replace(/\{([^{}]+)\}/g, (_, claim: string) => {
    const value = scalar(payload[claim]);
    if (value === undefined || value === "") missing.push(claim);
    return value ?? "";
  });
  if (missing.length > 0) return { refused: `subject template ${JSON.stringify(template)} needs claim ${missing.join(", ")}, which the token lacks` };
  return name;
}

/** A claim as the configuration writes it: strings as they are, numbers and booleans spelled out. */
function scalar(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return undefined;
}

function explain(err: unknown, token: string): string {
  if (err instanceof errors.JWTExpired) return `token expired at ${isoTime(err.payload.exp)}`;
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === "missing") return `token has no ${err.claim} claim`;
    if (err.claim === "nbf") return `token not valid before ${isoTime(err.payload.nbf)}`;
    return `${err.claim} claim: ${err.message}`;
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return "bad signature";
  if (err instanceof errors.JWKSNoMatchingKey) return `signed by a key the issuer does not publish (kid ${JSON.stringify(headerKid(token) ?? null)})`;
  if (err instanceof errors.JOSEAlgNotAllowed) return "signed with an algorithm that is not accepted (public-key algorithms only)";
  return `malformed token (${describe(err)})`;
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
  return `${err.message}${cause}`;
}

function headerKid(token: string): string | undefined {
  try {
    return decodeProtectedHeader(token).kid;
  } catch {
    return undefined;
  }
}

function isoTime(seconds: unknown): string {
  return typeof seconds === "number" ? new Date(seconds * 1000).toISOString() : String(seconds);
}
