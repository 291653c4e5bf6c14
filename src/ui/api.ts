/**
 * The web UI's JSON endpoints, under /api/v1/ beside /v2/ (README, "Web UI"):
 *
 * - `GET /api/v1/repositories?q=&page=&per_page=`: repositories whose names contain `q`, with their
 *   tag counts, sizes and last pushes;
 * - `GET /api/v1/repositories/<name>/tags?sort=tag|pushed|size&order=asc|desc&page=&per_page=`:
 *   one page of a repository's tags, with digest, media type, platforms, size and push time;
 * - `GET /api/v1/repositories/<name>/manifests/<tag or digest>`: an image or index, with its config,
 *   layers, history, platforms and referrers.
 *
 * Each answers with what the caller may pull, in the registry's error format when it fails; a
 * repository the caller may not pull is unknown to them.
 */
import type { Grant } from "../auth/policy.js";
import { allows } from "../auth/policy.js";
import { RegistryError } from "../oci/errors.js";
import { isValidName } from "../oci/reference.js";
import { sendJson, type Context } from "../server/context.js";
import type { RegistryViews, TagSort } from "./views.js";

export const apiPrefix = "/api/v1/";
const maxPerPage = 100;

export type GrantOf = (ctx: Context) => Promise<Grant>;

export function uiApi(views: RegistryViews, grantOf: GrantOf): (ctx: Context, path: string) => Promise<void> {
  return async (ctx, path) => {
    if (ctx.req.method !== "GET" && ctx.req.method !== "HEAD") throw new RegistryError("UNSUPPORTED", `no such endpoint: ${ctx.req.method} ${path}`);
    const rest = path.slice(apiPrefix.length);
    const grant = await grantOf(ctx);
    if (rest === "repositories") {
      ctx.route = "ui repositories";
      const { page, perPage } = paging(ctx.query);
      sendJson(ctx, 200, await views.repositories(grant, ctx.query.get("q") ?? "", page, perPage), noStore);
      return;
    }
    const tags = /^repositories\/(.+)\/tags$/.exec(rest);
    if (tags !== null) {
      ctx.route = "ui tags";
      const name = repository(grant, tags[1]!);
      const sort = ctx.query.get("sort") ?? "tag";
      if (sort !== "tag" && sort !== "pushed" && sort !== "size") throw badRequest(`sort must be tag, pushed or size, not ${JSON.stringify(sort)}`);
      const order = ctx.query.get("order") ?? (sort === "tag" ? "asc" : "desc");
      if (order !== "asc" && order !== "desc") throw badRequest(`order must be asc or desc, not ${JSON.stringify(order)}`);
      const { page, perPage } = paging(ctx.query);
      sendJson(ctx, 200, await views.tags(name, sort as TagSort, order === "desc", page, perPage), noStore);
      return;
    }
    const manifest = /^repositories\/(.+)\/manifests\/([^/]+)$/.exec(rest);
    if (manifest !== null) {
      ctx.route = "ui manifest";
      const name = repository(grant, manifest[1]!);
      sendJson(ctx, 200, await views.image(name, decoded(manifest[2]!)), noStore);
      return;
    }
    throw new RegistryError("UNSUPPORTED", `no such endpoint: ${ctx.req.method} ${path}`, { status: 404 });
  };
}

const noStore = { "Cache-Control": "no-store" };

function badRequest(message: string): RegistryError {
  return new RegistryError("UNSUPPORTED", message, { status: 400 });
}

/** A repository the caller may pull; any other is as unknown as one that does not exist. */
function repository(grant: Grant, raw: string): string {
  const name = decoded(raw);
  if (!isValidName(name)) throw new RegistryError("NAME_INVALID", `invalid repository name ${JSON.stringify(name)}`, { detail: { name } });
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
