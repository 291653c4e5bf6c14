import { paginate } from "../../registry/sorted.js";
import { intParam, sendJson, type Context } from "../context.js";
import { nextLink } from "./tags.js";

/** Largest page served; a client asking for more gets this many and a `Link` to the rest. */
const maxEntries = 1000;

/** GET /v2/_catalog[?n=&last=]. */
export async function listCatalog(ctx: Context): Promise<void> {
  const requested = intParam(ctx, "n");
  const n = Math.min(requested ?? maxEntries, maxEntries);
  const last = ctx.query.get("last") ?? undefined;
  const page = paginate(await ctx.registry.repositories(), n, last);
  const headers: Record<string, string> = {};
  if (page.more && n > 0) headers.Link = nextLink("/v2/_catalog", n, page.items[page.items.length - 1]!);
  sendJson(ctx, 200, { repositories: page.items }, headers);
}
