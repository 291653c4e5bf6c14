import type { Audit } from "../../auth/audit.js";
import type { Principal } from "../../auth/policy.js";
import { RegistryError } from "../../oci/errors.js";
import { parseScopes, scopeOf, type AccessRequest } from "../auth/access.js";
import { addressOf, type RegistryAccess } from "../auth/controller.js";
import type { TokenIssuer } from "../auth/issuer.js";
import { readBody, sendJson, type Context, type Handler } from "../context.js";

/**
 * The token service (auth_token.md, auth_oauth.md): GET with Basic credentials or none, POST with
 * the OAuth2 `password` and `refresh_token` grants. The token grants what was asked for and the
 * caller may do, never more.
 */
export function tokenEndpoint(access: RegistryAccess, issuer: TokenIssuer, audit: Audit): Handler {
  return async (ctx: Context): Promise<void> => {
    ctx.route = "token";
    if (ctx.req.method === "GET") return getToken(ctx, access, issuer, audit);
    if (ctx.req.method === "POST") return postToken(ctx, access, issuer, audit);
    ctx.req.resume();
    throw new RegistryError("UNSUPPORTED", `${ctx.req.method} is not supported on /token`, { status: 405, headers: { Allow: "GET, POST" } });
  };
}

async function getToken(ctx: Context, access: RegistryAccess, issuer: TokenIssuer, audit: Audit): Promise<void> {
  checkService(ctx.query.get("service"), issuer);
  const principal = await access.basicPrincipal(ctx.req);
  const offline = ctx.query.get("offline_token") === "true" && principal.kind !== "anonymous";
  const granted = access.narrow(principal, parseScopes(ctx.query.getAll("scope")));
  const issued = await issuer.issue(principal, granted);
  record(ctx, audit, principal, granted);
  sendJson(ctx, 200, {
    token: issued.token,
    access_token: issued.token,
    expires_in: issued.expiresIn,
    issued_at: issued.issuedAt,
    ...(offline ? { refresh_token: await issuer.refreshToken(principal) } : {}),
  });
}

async function postToken(ctx: Context, access: RegistryAccess, issuer: TokenIssuer, audit: Audit): Promise<void> {
  const form = new URLSearchParams((await readBody(ctx, 64 << 10, () => new RegistryError("UNSUPPORTED", "token request body too large", { status: 413 }))).toString("utf8"));
  checkService(form.get("service"), issuer);
  const grantType = form.get("grant_type");
  let principal: Principal;
  if (grantType === "password") {
    const user = form.get("username") ?? "";
    const password = form.get("password") ?? "";
    ctx.req.headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
    principal = await access.basicPrincipal(ctx.req);
    if (principal.kind === "anonymous") throw oauthError("invalid_request", "username and password are required");
  } else if (grantType === "refresh_token") {
    principal = await refreshed(ctx, access, issuer, audit, form.get("refresh_token") ?? "");
  } else {
    throw oauthError("unsupported_grant_type", `grant_type ${JSON.stringify(grantType)} is not supported (password, refresh_token)`);
  }
  const granted = access.narrow(principal, parseScopes([form.get("scope") ?? ""]));
  const issued = await issuer.issue(principal, granted);
  record(ctx, audit, principal, granted);
  const offline = form.get("access_type") === "offline" || grantType === "refresh_token";
  sendJson(ctx, 200, {
    access_token: issued.token,
    token_type: "Bearer",
    scope: scopeOf(granted),
    expires_in: issued.expiresIn,
    issued_at: issued.issuedAt,
    ...(offline ? { refresh_token: grantType === "refresh_token" ? form.get("refresh_token") : await issuer.refreshToken(principal) } : {}),
  });
}

/** The principal a refresh token names, as they stand now: a removed user's refresh token is refused. */
async function refreshed(ctx: Context, access: RegistryAccess, issuer: TokenIssuer, audit: Audit, token: string): Promise<Principal> {
  const address = addressOf(ctx.req);
  try {
    const subject = await issuer.verifyRefresh(token);
    const current = await access.currentPrincipal(subject.kind, subject.name, subject.groups);
    if (current !== undefined) return current;
  } catch (err) {
    audit.record({ event: "auth-failure", user: "", address, reason: `refresh token refused: ${(err as Error).message}` });
    throw access.challenge(ctx.req, [], "the refresh token is invalid or expired");
  }
  audit.record({ event: "auth-failure", user: "", address, reason: "refresh token of a removed account" });
  throw access.challenge(ctx.req, [], "the refresh token's account no longer exists");
}

function checkService(service: string | null, issuer: TokenIssuer): void {
  if (service !== null && service !== "" && service !== issuer.service) {
    throw oauthError("invalid_request", `this token service issues tokens for service ${JSON.stringify(issuer.service)}, not ${JSON.stringify(service)}`);
  }
}

function oauthError(code: string, message: string): RegistryError {
  return new RegistryError("UNSUPPORTED", message, { status: 400, detail: { error: code } });
}

function record(ctx: Context, audit: Audit, principal: Principal, granted: readonly AccessRequest[]): void {
  audit.record({ event: "token", user: principal.name, address: addressOf(ctx.req), scope: scopeOf(granted) });
}
