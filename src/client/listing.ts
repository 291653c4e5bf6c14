import { catalogScope, pull } from "./challenge.js";
import { ClientError } from "./errors.js";
import { header, readBody } from "./http.js";
import type { Transport } from "./transport.js";

/** The `rel="next"` target of a Link header (RFC 8288), as registries paginate. */
export function nextLink(link: string | undefined): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (m && /;\s*rel="?next"?/i.test(m[2]!)) return m[1];
  }
  return undefined;
}

async function* pages(t: Transport, first: string, scopes: Parameters<Transport["request"]>[0]["scopes"], field: string): AsyncGenerator<string> {
  let path: string | undefined = first;
  const seen = new Set<string>();
  while (path !== undefined) {
    if (seen.has(path)) throw new ClientError(`${t.registry}: pagination loops at ${path}`);
    seen.add(path);
    const res = await t.request({ method: "GET", path, scopes, expect: [200] });
    const link = header(res.headers, "link");
    const json = JSON.parse((await readBody(res.body)).toString("utf8")) as Record<string, unknown>;
    const items = json[field];
    if (items !== null && items !== undefined && !Array.isArray(items)) throw new ClientError(`${t.registry}: ${field} is not a list`);
    for (const item of items ?? []) if (typeof item === "string") yield item;
    path = nextLink(link);
  }
}

/** Every tag of a repository, following Link pagination. */
export function listTags(t: Transport, repo: string, pageSize?: number): AsyncGenerator<string> {
  return pages(t, `/v2/${repo}/tags/list${pageSize ? `?n=${pageSize}` : ""}`, [pull(repo)], "tags");
}

/** Every repository the registry lists, following Link pagination. */
export function listRepositories(t: Transport, pageSize?: number): AsyncGenerator<string> {
  return pages(t, `/v2/_catalog${pageSize ? `?n=${pageSize}` : ""}`, [catalogScope], "repositories");
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
