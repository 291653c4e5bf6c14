import { allows } from "../../auth/policy.js";
import { paginate } from "../../registry/sorted.js";
import { intParam, sendJson, type Context } from "../context.js";
import { nextLink } from "./tags.js";

/**
 * GET /v2/_catalog[?n=&last=]: at most `catalog.maxentries` names a page. With access control on,
 * only the repositories the caller may pull, filtered before paginating so that pages stay full
 * and `last` stays meaningful.
 */
export async function listCatalog(ctx: Context): Promise<void> {
  const maxEntries = ctx.config.catalog.maxentries;
  const requested = intParam(ctx, "n");
  const n = Math.min(requested ?? maxEntries, maxEntries);
  const last = ctx.query.get("last") ?? undefined;
  const all = await ctx.registry.repositories();
  const { grant } = ctx;
  const page = grant.all ? paginate(all, n, last) : visiblePage(all, n, last, (name) => allows(grant, name, "pull"));
  const headers: Record<string, string> = {};
  if (page.more && n > 0) headers.Link = nextLink("/v2/_catalog", n, page.items[page.items.length - 1]!);
  sendJson(ctx, 200, { repositories: page.items }, headers);
}

/** A page of the names `visible` accepts, looking no further than one name past the page. */
function visiblePage(sorted: readonly string[], n: number, last: string | undefined, visible: (name: string) => boolean): { items: string[]; more: boolean } {
  const after = paginate(sorted, 0, last);
  const items: string[] = [];
  for (let i = sorted.length - after.remaining; i < sorted.length; i++) {
    if (!visible(sorted[i]!)) continue;
    if (items.length === n) return { items, more: true };
    items.push(sorted[i]!);
  }
  return { items, more: false };
}
