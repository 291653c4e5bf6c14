import { paginate } from "../../registry/catalog.js";
import { intParam, sendJson, type Context } from "../context.js";

/** GET /v2/<name>/tags/list[?n=&last=]: sorted, paginated with a `Link` to the next page. */
export async function listTags(ctx: Context): Promise<void> {
  const name = ctx.params.name!;
  const n = intParam(ctx, "n");
  const last = ctx.query.get("last") ?? undefined;
  const page = paginate(await ctx.registry.tags.list(name), n, last);
  const headers: Record<string, string> = {};
  if (page.more && n !== undefined && n > 0) headers.Link = nextLink(`/v2/${name}/tags/list`, n, page.items[page.items.length - 1]!);
  sendJson(ctx, 200, { name, tags: page.items }, headers);
}

export function nextLink(path: string, n: number, last: string): string {
  return `<${path}?n=${n}&last=${encodeURIComponent(last)}>; rel="next"`;
}
