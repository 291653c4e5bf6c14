/**
 * One manifest under many tags; the tag list fetched whole and walked page by page with `n`.
 * The reference ignores `n` and `last`, so its walk is one request for everything: the figure is
 * complete walks per second either way, each checked to have seen every tag. On a directory or on
 * S3 (see ./placement.ts).
 */
import { tagNames } from "../data.js";
import { runPool } from "../http.js";
import type { Options } from "../options.js";
import { putManifest, walkList, wholeList, type Target } from "../protocol.js";
import type { Workload } from "../scenarios.js";
import { pushImageBlobs } from "./images.js";
import { placed, scenarioId, type Placement } from "./placement.js";

export function tagsWorkload(placement: Placement): Workload {
  const id = (name: string): string => scenarioId(placement, name);
  return {
    ...placed(placement, "tags"),
    async run(ctx) {
      const { opts } = ctx;
      const target = { base: ctx.server.url, agent: ctx.agent };
      const repo = "bench/tags";
      const [manifest] = await pushImageBlobs(target, repo, 1);
      const tags = tagNames(opts.tags);
      await runPool(tags.length, opts.concurrency, (i) => putManifest(target, repo, tags[i]!, manifest!));
      await ctx.phase(id("tags.whole"), () => fetchWholeLists(target, `/v2/${repo}/tags/list`, opts));
      await ctx.phase(id("tags.paginated"), () => walkLists(target, `/v2/${repo}/tags/list`, opts));
    },
  };
}

/**
 * The two phases, also run against a bare Node server for the machine's limit: the whole list
 * fetched, `concurrency` in flight, and walked page by page, each checked to hold every tag.
 * Both return how many ran.
 */
export function fetchWholeLists(target: Target, path: string, opts: Options): Promise<number> {
  return runPool(opts.concurrency * 2, opts.concurrency, async () => {
    const seen = await wholeList(target, path, "tags");
    if (seen !== opts.tags) throw new Error(`GET ${path}: ${seen} tags, wanted ${opts.tags}`);
  }, opts.minSeconds * 1000);
}

export function walkLists(target: Target, path: string, opts: Options): Promise<number> {
  return runPool(opts.concurrency, opts.concurrency, async () => {
    const walk = await walkList(target, path, opts.tagPage, "tags");
    if (walk.entries !== opts.tags) throw new Error(`walk of ${path} with n=${opts.tagPage}: ${walk.entries} tags, wanted ${opts.tags}`);
  }, opts.minSeconds * 1000);
}
