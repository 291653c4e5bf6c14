/**
 * The web UI's JSON endpoints, under /api/v1/ beside /v2/ (README, "Web UI"):
 *
 * - `GET /api/v1/repositories?q=&page=&per_page=`: repositories whose names contain `q`, with their
 *   tag counts, sizes and last pushes;
 * - `GET /api/v1/repositories/<name>/tags?sort=tag|pushed|size&order=asc|desc&page=&per_page=`:
 *   one page of a repository's tags, with digest, media type, platforms, size and push time;
 * - `GET /api/v1/repositories/<name>/manifests/<tag or digest>`: an image or index, with its config,
 *   layers, history, platforms and referrers;
 * - `DELETE /api/v1/repositories/<name>/tags/<tag>` and `.../manifests/<digest>`: removes a tag, or
 *   a manifest with the tags that name it;
 * - `GET`, `POST` (`{"username", "password"}`) and `DELETE /api/v1/session`: who is signed in and
 *   the CSRF token their changes carry; sign in; sign out;
 * - `GET /api/v1/storage` and `POST /api/v1/storage/estimate` (admins): what the store holds and
 *   what a garbage collection would free, estimated by a dry run when asked.
 *
 * Reads show what the caller may pull (the session's user, Basic or bearer credentials, or the
 * anonymous), in the registry's error format when they fail; a repository the caller may not pull
 * is unknown to them. Changes need a session (or the anonymous' rights) and its CSRF token.
 */
import type { Audit } from "../auth/audit.js";
import type { Grant } from "../auth/policy.js";
import { allows } from "../auth/policy.js";
import { parseDigest } from "../oci/digest.js";
import { RegistryError } from "../oci/errors.js";
import { isValidName, isValidTag } from "../oci/reference.js";
import type { AccessController } from "../server/auth/access.js";
import { addressOf } from "../server/auth/controller.js";
import { readBody, sendEmpty, sendJson, type Context } from "../server/context.js";
import type { Caller, Sessions } from "./sessions.js";
import type { StorageEstimates } from "./storage.js";
import { apiPrefix, type ImageAnswer, type SessionView, type TagPage } from "./types.js";
import type { RegistryViews, TagSort } from "./views.js";

export { apiPrefix };
const maxPerPage = 100;

export interface UiApiOptions {
  views: RegistryViews;
  sessions: Sessions;
  access: AccessController;
  audit: Audit | undefined;
  storage: StorageEstimates;
}

export function uiApi({ views, sessions, access, audit, storage }: UiApiOptions): (ctx: Context, path: string) => Promise<void> {
  const registry = views.registry;
  const deletes = registry.options.deleteEnabled && !registry.options.readOnly;
  /** Reads: credentials when sent (as for the catalog: never a challenge, which would make a browser ask), else the session. */
  const readerGrant = async (ctx: Context): Promise<Grant> =>
    ctx.req.headers.authorization === undefined ? (await sessions.caller(ctx.req)).grant : access.authorize(ctx.req, [{ type: "registry", name: "catalog", actions: ["*"] }]);
  const sessionView = (caller: Caller): SessionView => ({ user: caller.principal?.name ?? null, signIn: sessions.signIn, csrf: caller.csrf, admin: caller.grant.all, deletes });
  const deleter = async (ctx: Context, name: string): Promise<Caller> => {
    const caller = await sessions.changer(ctx.req);
    if (!allows(caller.grant, name, "delete")) throw new RegistryError("DENIED", `${caller.principal?.name ?? "the anonymous"} may not delete in ${name}`);
    return caller;
  };
  const audited = (ctx: Context, caller: Caller, repository: string, what: { reference?: string; digest?: string }) =>
    audit?.record({ event: "delete", user: caller.principal?.name ?? "anonymous", address: addressOf(ctx.req), repository, ...what, status: 204 });

  return async (ctx, path) => {
    const method = ctx.req.method ?? "GET";
    const read = method === "GET" || method === "HEAD";
    const rest = path.slice(apiPrefix.length);
    if (rest === "session") {
      ctx.route = "ui session";
      if (read) return sendJson(ctx, 200, sessionView(await sessions.caller(ctx.req)), noStore);
      if (method === "POST") {
        if (!sessions.signIn) throw new RegistryError("UNSUPPORTED", "this registry has no users of its own to sign in: there is nothing to sign in to", { status: 404 });
        // Signing in needs no earlier token, only this site's page.
        sessions.checkOrigin(ctx.req);
        const { username, password } = credentials(await readBody(ctx, 4096, () => badRequest("a sign-in is a small JSON object")));
        const { cookie, caller } = await sessions.signInWith(ctx.req, username, password);
        return sendJson(ctx, 200, sessionView(caller), { ...noStore, "Set-Cookie": cookie });
      }
      if (method === "DELETE") {
        await sessions.changer(ctx.req);
        return sendEmpty(ctx, 204, { "Set-Cookie": sessions.signOutCookie(), ...noStore });
      }
      throw unsupported(method, path);
    }
    if (rest === "storage" || rest === "storage/estimate") {
      ctx.route = "ui storage";
      const estimate = rest === "storage/estimate";
      if (estimate ? method !== "POST" : !read) throw unsupported(method, path);
      const grant = estimate ? (await sessions.changer(ctx.req)).grant : await readerGrant(ctx);
      if (!grant.all) throw new RegistryError("DENIED", "only an admin sees the whole store");
      if (estimate) storage.start();
      return sendJson(ctx, estimate ? 202 : 200, storage.view(), noStore);
    }
    if (rest === "repositories") {
      if (!read) throw unsupported(method, path);
      ctx.route = "ui repositories";
      const { page, perPage } = paging(ctx.query);
      return sendJson(ctx, 200, await views.repositories(await readerGrant(ctx), ctx.query.get("q") ?? "", page, perPage), noStore);
    }
    const tags = /^repositories\/(.+)\/tags$/.exec(rest);
    if (tags !== null) {
      if (!read) throw unsupported(method, path);
      ctx.route = "ui tags";
      const grant = await readerGrant(ctx);
      const name = repository(grant, tags[1]!);
      const sort = ctx.query.get("sort") ?? "tag";
      if (sort !== "tag" && sort !== "pushed" && sort !== "size") throw badRequest(`sort must be tag, pushed or size, not ${JSON.stringify(sort)}`);
      const order = ctx.query.get("order") ?? (sort === "tag" ? "asc" : "desc");
      if (order !== "asc" && order !== "desc") throw badRequest(`order must be asc or desc, not ${JSON.stringify(order)}`);
      const { page, perPage } = paging(ctx.query);
      const listed = await views.tags(name, sort as TagSort, order === "desc", page, perPage);
      const answer: TagPage = { ...listed, canDelete: deletes && allows(grant, name, "delete") };
      return sendJson(ctx, 200, answer, noStore);
    }
    const tag = /^repositories\/(.+)\/tags\/([^/]+)$/.exec(rest);
    if (tag !== null) {
      if (method !== "DELETE") throw unsupported(method, path);
      ctx.route = "ui tag";
      const name = validName(tag[1]!);
      const reference = decoded(tag[2]!);
      if (!isValidTag(reference)) throw badRequest(`invalid tag ${JSON.stringify(reference)}`);
      const caller = await deleter(ctx, name);
      ctx.params = { name, reference };
      if (!(await registry.tags.untag(name, reference))) throw new RegistryError("MANIFEST_UNKNOWN", `tag ${reference} not found in ${name}`, { detail: { tag: reference } });
      audited(ctx, caller, name, { reference });
      return sendEmpty(ctx, 204);
    }
    const manifest = /^repositories\/(.+)\/manifests\/([^/]+)$/.exec(rest);
    if (manifest !== null) {
      ctx.route = "ui manifest";
      const reference = decoded(manifest[2]!);
      if (method === "DELETE") {
        const name = validName(manifest[1]!);
        const digest = parseDigest(reference);
        if (digest === undefined) throw badRequest("a manifest is deleted by its digest: delete a tag through .../tags/<tag>");
        const caller = await deleter(ctx, name);
        ctx.params = { name, reference: digest.value };
        ctx.untagged = await registry.manifests.delete(name, digest);
        audited(ctx, caller, name, { digest: digest.value });
        return sendEmpty(ctx, 204);
      }
      if (!read) throw unsupported(method, path);
      const grant = await readerGrant(ctx);
      const name = repository(grant, manifest[1]!);
      const answer: ImageAnswer = { ...(await views.image(name, reference)), canDelete: deletes && allows(grant, name, "delete") };
      return sendJson(ctx, 200, answer, noStore);
    }
    throw new RegistryError("UNSUPPORTED", `no such endpoint: ${method} ${path}`, { status: 404 });
  };
}

const noStore = { "Cache-Control": "no-store" };

function badRequest(message: string): RegistryError {
  return new RegistryError("UNSUPPORTED", message, { status: 400 });
}

function unsupported(method: string, path: string): RegistryError {
  return new RegistryError("UNSUPPORTED", `${method} is not supported on ${path}`);
}

function credentials(body: Buffer): { username: string; password: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    throw badRequest('a sign-in is JSON: {"username": ..., "password": ...}');
  }
  const { username, password } = (parsed ?? {}) as { username?: unknown; password?: unknown };
  if (typeof username !== "string" || typeof password !== "string" || username === "") throw badRequest('a sign-in is JSON: {"username": ..., "password": ...}');
  return { username, password };
}

function validName(raw: string): string {
  const name = decoded(raw);
  if (!isValidName(name)) throw new RegistryError("NAME_INVALID", `invalid repository name ${JSON.stringify(name)}`, { detail: { name } });
  return name;
}

/** A repository the caller may pull; any other is as unknown as one that does not exist. */
function repository(grant: Grant, raw: string): string {
  const name = validName(raw);
  if (!allows(grant, name, "pull")) throw new RegistryError("NAME_UNKNOWN", `repository ${name} not known to registry`, { detail: { name } });
  return name;
}

function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw badRequest(`malformed percent-encoding in ${JSON.stringify(segment)}`);
  }
}

function paging(query: URLSearchParams): { page: number; perPage: number } {
  const number = (key: string, fallback: number, max: number): number => {
    const raw = query.get(key);
    if (raw === null) return fallback;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < 1 || n > max) throw new RegistryError("PAGINATION_NUMBER_INVALID", `${key} must be a whole number from 1 to ${max}`, { detail: { [key]: raw } });
    return n;
  };
  return { page: number("page", 1, 1e9), perPage: number("per_page", 50, maxPerPage) };
}
