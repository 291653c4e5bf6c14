/**
 * Many small blobs (config-sized) pushed, HEADed and fetched with `concurrency` requests in flight,
 * on a directory or on S3 (see ./placement.ts).
 */
import { BlobSource } from "../data.js";
import { runPool } from "../http.js";
import { headBlob, pullBlob, pushBytes } from "../protocol.js";
import { warmUp, type Workload } from "../scenarios.js";
import { placed, scenarioId, type Placement } from "./placement.js";

export function smallWorkload(placement: Placement): Workload {
  const id = (name: string): string => scenarioId(placement, name);
  return {
    ...placed(placement, "small"),
    async run(ctx) {
      const { opts } = ctx;
      const target = { base: ctx.server.url, agent: ctx.agent };
      const repo = "bench/small";
      const makeBlob = () => {
        const source = new BlobSource(opts.smallBytes);
        return { bytes: source.bytes(), digest: source.digest() };
      };
      const blobs = Array.from({ length: opts.smallBlobs }, makeBlob);
      const n = blobs.length;
      const minMs = opts.minSeconds * 1000;
      await warmUp(opts, n, () => {
        const blob = makeBlob();
        return pushBytes(target, `${repo}-warmup`, blob.bytes, blob.digest);
      });
      await ctx.phase(id("small.push"), () =>
        runPool(n, opts.concurrency, async (i) => {
          const blob = blobs[i]!;
          await pushBytes(target, repo, blob.bytes, blob.digest);
        }),
      );
      await ctx.phase(id("small.head"), () => runPool(n, opts.concurrency, (i) => headBlob(target, repo, blobs[i % n]!.digest, opts.smallBytes), minMs));
      await ctx.phase(id("small.get"), () =>
        runPool(n, opts.concurrency, async (i) => {
          await pullBlob(target, repo, blobs[i % n]!.digest, opts.smallBytes);
        }, minMs),
      );
    },
  };
}
