import type { Credentials } from "./auth-config.js";
import { formatScope, mergeScopes, parseChallenges, type Challenge, type Scope } from "./challenge.js";
import { ClientError, ResponseError, parseErrorEnvelope } from "./errors.js";
import { readBody, send } from "./http.js";

interface Token {
  value: string;
  expiresAt: number;
}

/**
 * Answers Basic and Bearer challenges for one registry. Tokens are cached per scope set, so a
 * mount asks once for pull on the source and push on the target, and a later pull reuses its own.
 */
export class Authenticator {
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, Token>();
  private readonly fetching = new Map<string, Promise<Token>>();
  private credentials: Promise<Credentials | undefined> | undefined;

  constructor(
    private readonly registry: string,
    private readonly lookup: () => Promise<Credentials | undefined>,
    private readonly now: () => number = Date.now,
  ) {}

  private creds(): Promise<Credentials | undefined> {
    this.credentials ??= this.lookup();
    return this.credentials;
  }

  /** The Authorization header for a request needing `scopes`, once the registry has said how. */
  async authorization(scopes: Scope[]): Promise<string | undefined> {
    const challenge = this.challenge;
    if (challenge === undefined) return undefined;
    const creds = await this.creds();
    if (challenge.scheme === "basic") {
      if (creds?.username === undefined) return undefined;
      return `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ""}`).toString("base64")}`;
    }
    if (creds?.registryToken) return `Bearer ${creds.registryToken}`;
    const key = mergeScopes(scopes).map(formatScope).join(" ");
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > this.now()) return `Bearer ${cached.value}`;
    // Requests that need one scope at once share one token request.
    let fetching = this.fetching.get(key);
    if (fetching === undefined) {
      fetching = this.fetchToken(challenge, scopes, creds)
        .then((token) => this.keep(key, token))
        .finally(() => this.fetching.delete(key));
      this.fetching.set(key, fetching);
    }
    return `Bearer ${(await fetching).value}`;
  }

  /** Caches a token, dropping those expired (a long-lived client, a mirror, asks for many scopes over time). */
  private keep(key: string, token: Token): Token {
    const now = this.now();
    for (const [other, { expiresAt }] of this.tokens) if (expiresAt <= now) this.tokens.delete(other);
    this.tokens.set(key, token);
    return token;
  }

  /**
   * Learns from a 401. Returns whether asking again can help: false when we already answered this
   * kind of challenge with credentials, or have none to give.
   */
  async challenged(wwwAuthenticate: string | undefined, scopes: Scope[]): Promise<boolean> {
    const all = parseChallenges(wwwAuthenticate ?? "");
    const chosen = all.find((c) => c.scheme === "bearer") ?? all.find((c) => c.scheme === "basic");
    if (!chosen) return false;
    const before = this.challenge;
    this.challenge = chosen;
    const key = mergeScopes(scopes).map(formatScope).join(" ");
    if (chosen.scheme === "bearer") {
      const hadToken = this.tokens.delete(key);
      return !(hadToken && before?.scheme === "bearer");
    }
    const creds = await this.creds();
    return before?.scheme !== "basic" && creds?.username !== undefined;
  }

  private async fetchToken(challenge: Challenge, scopes: Scope[], creds: Credentials | undefined): Promise<Token> {
    const realm = challenge.params.realm;
    if (!realm) throw new ClientError(`${this.registry}: Bearer challenge without a realm`);
    const url = new URL(realm);
    const service = challenge.params.service;
    const scopeStrings = mergeScopes(scopes).map(formatScope);
    if (scopeStrings.length === 0 && challenge.params.scope) scopeStrings.push(...challenge.params.scope.split(" "));
    let response;
    if (creds?.identityToken) {
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: creds.identityToken, client_id: "lading" });
      if (service) form.set("service", service);
      if (scopeStrings.length > 0) form.set("scope", scopeStrings.join(" "));
      response = await send({ method: "POST", url, headers: { "content-type": "application/x-www-form-urlencoded" }, body: Buffer.from(form.toString()) });
    } else {
      if (service) url.searchParams.set("service", service);
      for (const s of scopeStrings) url.searchParams.append("scope", s);
      const headers: Record<string, string> = {};
      if (creds?.username !== undefined) {
        headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ""}`).toString("base64")}`;
        url.searchParams.set("account", creds.username);
      }
      response = await send({ method: "GET", url, headers });
    }
    const body = await readBody(response.body, 1 << 20);
    if (response.status !== 200) {
      throw new ResponseError(response.status === 401 ? "token" : "GET", `${url.origin}${url.pathname}`, response.status, parseErrorEnvelope(body.toString("utf8")));
    }
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
    } catch {
      throw new ClientError(`${url.origin}${url.pathname}: token response is not JSON`);
    }
    const value = typeof json.token === "string" ? json.token : typeof json.access_token === "string" ? json.access_token : undefined;
    if (!value) throw new ClientError(`${url.origin}${url.pathname}: token response has no token`);
    // Spec default is 60s; renew a little early so a token never expires mid-request.
    const expiresIn = typeof json.expires_in === "number" && json.expires_in > 0 ? json.expires_in : 60;
    return { value, expiresAt: this.now() + Math.max(1, expiresIn - 10) * 1000 };
  }
}
