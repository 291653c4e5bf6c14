import { intParam, sendJsonBytes, type Context } from "../context.js";

/** GET /v2/<name>/tags/list[?n=&last=]: sorted, paginated with a `Link` to the next page. */
export async function listTags(ctx: Context): Promise<void> {
  const name = ctx.params.name!;
  const n = intParam(ctx, "n");
  const page = await ctx.registry.tags.page(name, n, ctx.query.get("last") ?? undefined);
  const headers: Record<string, string> = {};
  if (page.next !== undefined && n !== undefined && n > 0) headers.Link = nextLink(`/v2/${name}/tags/list`, n, page.next);
  sendJsonBytes(ctx, 200, page.body, headers);
}

export function nextLink(path: string, n: number, last: string): string {
  return `<${path}?n=${n}&last=${encodeURIComponent(last)}>; rel="next"`;
}
