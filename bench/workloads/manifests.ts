/**
 * Distinct manifests (one config, one layer, an annotation making each unique) PUT by tag, then
 * fetched by tag, HEADed by tag and fetched by digest, `concurrency` in flight.
 */
import { runPool } from "../http.js";
import { fetchManifest, putManifest } from "../protocol.js";
import { warmUp, type Workload } from "../scenarios.js";
import { sha256 } from "../data.js";
import { distinctManifest, pushImageBlobs, seedImage } from "./images.js";

export const manifestsWorkload: Workload = {
  name: "manifests",
  async run(ctx) {
    const { opts } = ctx;
    const target = { base: ctx.server.url, agent: ctx.agent };
    const repo = "bench/manifests";
    const manifests = await pushImageBlobs(target, repo, opts.manifests);
    const n = manifests.length;
    const minMs = opts.minSeconds * 1000;
    const warm = await seedImage(target, `${repo}-warmup`);
    await warmUp(opts, n, (i) => putManifest(target, `${repo}-warmup`, `t${i}`, distinctManifest(warm, i)));
    await ctx.phase("manifest.put", () =>
      runPool(n, opts.concurrency, (i) => putManifest(target, repo, `t${i}`, manifests[i]!)),
    );
    const digests = manifests.map((body) => sha256(body));
    await ctx.phase("manifest.get-tag", () => runPool(n, opts.concurrency, (i) => fetchManifest(target, "GET", repo, `t${i % n}`, digests[i % n]!), minMs));
    await ctx.phase("manifest.head", () => runPool(n, opts.concurrency, (i) => fetchManifest(target, "HEAD", repo, `t${i % n}`, digests[i % n]!), minMs));
    await ctx.phase("manifest.get-digest", () =>
      runPool(n, opts.concurrency, (i) => fetchManifest(target, "GET", repo, digests[i % n]!, digests[i % n]!), minMs),
    );
  },
};
