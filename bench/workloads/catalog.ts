/**
 * Many repositories, each a real one (two mounted blobs and a manifest), then `_catalog` walked
 * page by page with `n`, following Link headers; every walk must see every repository.
 */
import { runPool } from "../http.js";
import { imageManifest, mountBlob, putManifest, walkList } from "../protocol.js";
import type { Workload } from "../scenarios.js";
import { seedImage } from "./images.js";

export const catalogWorkload: Workload = {
  name: "catalog",
  async run(ctx) {
    const { opts } = ctx;
    const target = { base: ctx.server.url, agent: ctx.agent };
    const source = "bench/catalog-source";
    const blobs = await seedImage(target, source);
    const manifest = imageManifest(blobs.config, [blobs.layer]);
    await putManifest(target, source, "latest", manifest);
    await runPool(opts.repos, opts.concurrency, async (i) => {
      const repo = `bench/catalog/r${String(i).padStart(5, "0")}`;
      await mountBlob(target, repo, source, blobs.config.digest);
      await mountBlob(target, repo, source, blobs.layer.digest);
      await putManifest(target, repo, "latest", manifest);
    });
    const repositories = opts.repos + 1;
    await ctx.phase("catalog.walk", () =>
      runPool(opts.concurrency, opts.concurrency, async () => {
        const walk = await walkList(target, "/v2/_catalog", opts.catalogPage, "repositories");
        if (walk.entries !== repositories) throw new Error(`_catalog walk with n=${opts.catalogPage}: ${walk.entries} repositories, wanted ${repositories}`);
      }, opts.minSeconds * 1000),
    );
  },
};
