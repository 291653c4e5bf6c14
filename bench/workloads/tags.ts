/**
 * One manifest under many tags; the tag list fetched whole and walked page by page with `n`.
 * The reference ignores `n` and `last`, so its walk is one request for everything: the figure is
 * complete walks per second either way, each checked to have seen every tag.
 */
import { tagNames } from "../data.js";
import { runPool } from "../http.js";
import { putManifest, walkList, wholeList } from "../protocol.js";
import type { Workload } from "../scenarios.js";
import { pushImageBlobs } from "./images.js";

export const tagsWorkload: Workload = {
  name: "tags",
  async run(ctx) {
    const { opts } = ctx;
    const target = { base: ctx.server.url, agent: ctx.agent };
    const repo = "bench/tags";
    const [manifest] = await pushImageBlobs(target, repo, 1);
    const tags = tagNames(opts.tags);
    await runPool(tags.length, opts.concurrency, (i) => putManifest(target, repo, tags[i]!, manifest!));
    const minMs = opts.minSeconds * 1000;
    const requests = opts.concurrency * 2;
    await ctx.phase("tags.whole", () =>
      runPool(requests, opts.concurrency, async () => {
        const seen = await wholeList(target, `/v2/${repo}/tags/list`, "tags");
        if (seen !== opts.tags) throw new Error(`GET tag list: ${seen} tags, wanted ${opts.tags}`);
      }, minMs),
    );
    await ctx.phase("tags.paginated", () =>
      runPool(opts.concurrency, opts.concurrency, async () => {
        const walk = await walkList(target, `/v2/${repo}/tags/list`, opts.tagPage, "tags");
        if (walk.entries !== opts.tags) throw new Error(`tag list walk with n=${opts.tagPage}: ${walk.entries} tags, wanted ${opts.tags}`);
      }, minMs),
    );
  },
};
