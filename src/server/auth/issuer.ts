import { createPublicKey, randomUUID, type KeyObject } from "node:crypto";
import { jwtVerify, SignJWT } from "jose";
import type { Principal } from "../../auth/policy.js";
import { keyBytes, Lru } from "../../registry/lru.js";
import type { AccessEntry, TokenClaims } from "./claims.js";
import type { SigningAlgorithm } from "./keys.js";

export interface IssuerOptions {
  key: KeyObject;
  algorithm: SigningAlgorithm;
  issuer: string;
  service: string;
  expirationMs: number;
  refreshExpirationMs: number;
}

export interface IssuedToken {
  token: string;
  expiresIn: number;
  issuedAt: string;
}

/** A refresh token's subject: who may get new access tokens with it. */
export interface RefreshSubject {
  kind: Principal["kind"];
  name: string;
  groups: string[];
}

/**
 * lading's own token service: signs access tokens (auth_jwt.md: iss, sub, aud, exp, nbf, iat,
 * jti, access) and refresh tokens (docker login's identity token), and verifies them. A verified
 * token is remembered until it expires, so a request pays an ECDSA verification once per token,
 * not once per request.
 */
export class TokenIssuer {
  private readonly publicKey: KeyObject;
  private readonly kid: string;
  private readonly verified = new Lru<string, TokenClaims>(4 << 20, (_, key) => keyBytes(key) + 512);

  constructor(private readonly options: IssuerOptions) {
    this.publicKey = createPublicKey(options.key);
    this.kid = randomUUID().slice(0, 8);
  }

  get service(): string {
    return this.options.service;
  }

  async issue(principal: Principal, access: AccessEntry[]): Promise<IssuedToken> {
    const now = Math.floor(Date.now() / 1000);
    const expiresIn = Math.max(1, Math.round(this.options.expirationMs / 1000));
    const token = await this.sign({ access, kind: principal.kind, groups: principal.groups }, principal, now, expiresIn);
    return { token, expiresIn, issuedAt: new Date(now * 1000).toISOString() };
  }

  async refreshToken(principal: Principal): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return this.sign({ refresh: true, kind: principal.kind, groups: principal.groups }, principal, now, Math.round(this.options.refreshExpirationMs / 1000));
  }

  /** The claims of one of this service's access tokens; throws when it is not one, or no longer valid. */
  async verify(token: string): Promise<TokenClaims> {
    const known = this.verified.get(token);
    if (known !== undefined) {
      if (known.exp * 1000 > Date.now()) return known;
      this.verified.delete(token);
      throw new Error("the token has expired");
    }
    const { payload } = await jwtVerify(token, this.publicKey, { issuer: this.options.issuer, audience: this.options.service, algorithms: [this.options.algorithm] });
    if (payload.refresh === true) throw new Error("a refresh token is not an access token");
    const claims: TokenClaims = {
      sub: payload.sub ?? "",
      access: Array.isArray(payload.access) ? (payload.access as AccessEntry[]) : [],
      exp: payload.exp ?? 0,
      ...(typeof payload.kind === "string" ? { kind: payload.kind as Principal["kind"] } : {}),
      ...(Array.isArray(payload.groups) ? { groups: payload.groups as string[] } : {}),
    };
    this.verified.set(token, claims);
    return claims;
  }

  async verifyRefresh(token: string): Promise<RefreshSubject> {
    const { payload } = await jwtVerify(token, this.publicKey, { issuer: this.options.issuer, audience: this.options.service, algorithms: [this.options.algorithm] });
    if (payload.refresh !== true || typeof payload.sub !== "string" || typeof payload.kind !== "string") throw new Error("not a refresh token");
    return { kind: payload.kind as Principal["kind"], name: payload.sub, groups: Array.isArray(payload.groups) ? (payload.groups as string[]) : [] };
  }

  private sign(claims: Record<string, unknown>, principal: Principal, now: number, lifetime: number): Promise<string> {
    return new SignJWT(claims)
      .setProtectedHeader({ alg: this.options.algorithm, typ: "JWT", kid: this.kid })
      .setIssuer(this.options.issuer)
      .setSubject(principal.kind === "anonymous" ? "" : principal.name)
      .setAudience(this.options.service)
      .setIssuedAt(now)
      .setNotBefore(now - 1)
      .setExpirationTime(now + lifetime)
      .setJti(randomUUID())
      .sign(this.options.key);
  }
}
