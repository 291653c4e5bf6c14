import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import type { ListPage } from "../driver.js";
import { pageOf } from "../page.js";
import type { S3Context } from "./config.js";
import { childName } from "./keys.js";

/** S3's largest listing page. */
const LIST_MAX = 1000;

/**
 * The names of the children under `prefix` (objects, directories, objects being written), sorted,
 * with `page` applied; undefined when nothing at all is under `prefix`.
 *
 * S3 lists keys in byte order, which is the names' order but for one case: a directory `v1` lists
 * as `v1/`, after `v1-x` and `v1.0` (`-` and `.` sort before `/`) although its name sorts before
 * theirs. So a page of `limit` names is only final once the listing has passed the key of every
 * directory that could still sort into it (`settled`). Listing starts after `page.after`: no name
 * after it has a key before it.
 */
export async function listNames(ctx: S3Context, prefix: string, page: ListPage | undefined): Promise<string[] | undefined> {
  const after = page?.after;
  const limit = page?.limit;
  const names = new Set<string>();
  let listedAny = false;
  let ContinuationToken: string | undefined;
  for (;;) {
    const out = await ctx.client.send(
      new ListObjectsV2Command({
        Bucket: ctx.bucket,
        Prefix: prefix,
        Delimiter: "/",
        MaxKeys: LIST_MAX,
        ...(ContinuationToken !== undefined ? { ContinuationToken } : after !== undefined ? { StartAfter: prefix + after } : {}),
      }),
    );
    let last = "";
    const objects = (out.Contents ?? []).map((o) => o.Key ?? "");
    const directories = (out.CommonPrefixes ?? []).map((p) => p.Prefix ?? "");
    for (const key of [...objects, ...directories]) {
      listedAny = true;
      if (key > last) last = key;
      const name = childName(key.slice(prefix.length).replace(/\/$/, ""));
      if (name !== undefined && (after === undefined || name > after)) names.add(name);
    }
    if (out.IsTruncated !== true || out.NextContinuationToken === undefined) break;
    if (limit !== undefined && names.size >= limit && settled([...names].sort()[limit - 1]!, prefix, last)) break;
    ContinuationToken = out.NextContinuationToken;
  }
  if (!listedAny && after !== undefined && (await firstUnder(ctx, prefix)) === undefined) return undefined;
  if (!listedAny && after === undefined) return undefined;
  return pageOf([...names].sort(), limit === undefined ? undefined : { limit });
}

/**
 * Whether no directory still to be listed (key > `last`) can have a name before `name`: the only
 * such are directories named by a prefix of `name` that `-` or `.` follows; the shortest lists last.
 */
function settled(name: string, prefix: string, last: string): boolean {
  const cut = name.slice(1).search(/[-.]/) + 1;
  return cut === 0 || last >= `${prefix}${name.slice(0, cut)}/`;
}

/** When the first key starting with `prefix` was written; undefined when there is none. */
export async function firstUnder(ctx: S3Context, prefix: string): Promise<Date | undefined> {
  const out = await ctx.client.send(new ListObjectsV2Command({ Bucket: ctx.bucket, Prefix: prefix, MaxKeys: 1 }));
  const first = out.Contents?.[0];
  return first === undefined ? undefined : (first.LastModified ?? new Date());
}

export interface Listed {
  key: string;
  size: number;
}

/** Every key starting with `prefix`, a page (a thousand) at a time. */
export async function* keysUnder(ctx: S3Context, prefix: string): AsyncGenerator<Listed[]> {
  let ContinuationToken: string | undefined;
  for (;;) {
    const out = await ctx.client.send(new ListObjectsV2Command({ Bucket: ctx.bucket, Prefix: prefix, MaxKeys: LIST_MAX, ContinuationToken }));
    const page = (out.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [{ key: o.Key, size: o.Size ?? 0 }]));
    if (page.length > 0) yield page;
    if (out.IsTruncated !== true || out.NextContinuationToken === undefined) return;
    ContinuationToken = out.NextContinuationToken;
  }
}
