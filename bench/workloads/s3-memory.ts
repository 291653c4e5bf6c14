/**
 * lading's memory with many big uploads in flight on S3: `parallelPushes` blobs of `parallelBytes`
 * pushed at once, each as docker pushes a layer (one streamed PATCH, then PUT with the digest),
 * each on a connection of its own. Measured on lading alone: the figure is its peak RSS, and that
 * peak over its RSS at the start shared out per upload (all uploads share one pool of part
 * buffers, `uploadmemory`, 64 MiB by default).
 */
import { gatewayUnavailable } from "../gateway.js";
import { BlobSource } from "../data.js";
import { keepAliveAgent } from "../http.js";
import { pushBlob } from "../protocol.js";
import type { Workload } from "../scenarios.js";

export const s3MemoryWorkload: Workload = {
  name: "s3-memory",
  s3: { redirect: false },
  unavailable: gatewayUnavailable,
  async run(ctx) {
    const { opts } = ctx;
    const agent = keepAliveAgent(opts.parallelPushes);
    try {
      const target = { base: ctx.server.url, agent };
      const warm = new BlobSource(Math.min(opts.parallelBytes, 2 * opts.chunkBytes));
      await pushBlob(target, "bench/parallel-warm-up", warm, "streamed", opts.chunkBytes);
      const blobs = Array.from({ length: opts.parallelPushes }, () => new BlobSource(opts.parallelBytes));
      await ctx.phase("s3.push.parallel", async () => {
        await Promise.all(blobs.map((blob, i) => pushBlob(target, `bench/parallel-${i}`, blob, "streamed", opts.chunkBytes)));
        return blobs.length * opts.parallelBytes;
      });
    } finally {
      await agent.close();
    }
  },
};
