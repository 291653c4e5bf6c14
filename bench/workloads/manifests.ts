/**
 * Distinct manifests (one config, one layer, an annotation making each unique) PUT by tag, then
 * fetched by tag, HEADed by tag and fetched by digest, `concurrency` in flight, on a directory or
 * on S3 (see ./placement.ts).
 */
import { runPool } from "../http.js";
import { fetchManifest, putManifest } from "../protocol.js";
import { warmUp, type Workload } from "../scenarios.js";
import { sha256 } from "../data.js";
import { distinctManifest, pushImageBlobs, seedImage } from "./images.js";
import { placed, scenarioId, type Placement } from "./placement.js";

export function manifestsWorkload(placement: Placement): Workload {
  const id = (name: string): string => scenarioId(placement, name);
  return {
    ...placed(placement, "manifests"),
    async run(ctx) {
      const { opts } = ctx;
      const target = { base: ctx.server.url, agent: ctx.agent };
      const repo = "bench/manifests";
      const manifests = await pushImageBlobs(target, repo, opts.manifests);
      const n = manifests.length;
      const minMs = opts.minSeconds * 1000;
      const warm = await seedImage(target, `${repo}-warmup`);
      await warmUp(opts, n, (i) => putManifest(target, `${repo}-warmup`, `t${i}`, distinctManifest(warm, i)));
      await ctx.phase(id("manifest.put"), () =>
        runPool(n, opts.concurrency, (i) => putManifest(target, repo, `t${i}`, manifests[i]!)),
      );
      const digests = manifests.map((body) => sha256(body));
      await ctx.phase(id("manifest.get-tag"), () => runPool(n, opts.concurrency, (i) => fetchManifest(target, "GET", repo, `t${i % n}`, digests[i % n]!), minMs));
      await ctx.phase(id("manifest.head"), () => runPool(n, opts.concurrency, (i) => fetchManifest(target, "HEAD", repo, `t${i % n}`, digests[i % n]!), minMs));
      await ctx.phase(id("manifest.get-digest"), () =>
        runPool(n, opts.concurrency, (i) => fetchManifest(target, "GET", repo, digests[i % n]!, digests[i % n]!), minMs),
      );
    },
  };
}
