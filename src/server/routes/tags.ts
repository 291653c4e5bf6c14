import { Mirror } from "../../mirror/mirror.js";
import { paginate } from "../../registry/sorted.js";
import { intParam, sendJsonBytes, type Context } from "../context.js";

/**
 * GET /v2/<name>/tags/list[?n=&last=]: sorted, paginated with a `Link` to the next page; of a
 * mirrored repository, the upstream's tags (the cached ones, marked stale, while it fails).
 */
export async function listTags(ctx: Context): Promise<void> {
  const name = ctx.params.name!;
  const n = intParam(ctx, "n");
  const last = ctx.query.get("last") ?? undefined;
  const mirror = ctx.registry.mirror;
  const mapped = mirror?.mapped(name);
  let page: { body: Buffer; next: string | undefined };
  if (mirror === undefined || mapped === undefined) page = await ctx.registry.tags.page(name, n, last);
  else {
    const { tags, stale } = await mirror.tags(name, mapped);
    if (stale) Mirror.markStale(ctx.res);
    const { items, more } = paginate(tags, n, last);
    page = { body: Buffer.from(JSON.stringify({ name, tags: items })), next: more ? items.at(-1) : undefined };
  }
  const headers: Record<string, string> = {};
  if (page.next !== undefined && n !== undefined && n > 0) headers.Link = nextLink(`/v2/${name}/tags/list`, n, page.next);
  sendJsonBytes(ctx, 200, page.body, headers);
}

export function nextLink(path: string, n: number, last: string): string {
  return `<${path}?n=${n}&last=${encodeURIComponent(last)}>; rel="next"`;
}
