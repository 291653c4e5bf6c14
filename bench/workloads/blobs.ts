/**
 * Big-blob pushes in the three ways clients upload (monolithic, chunked, streamed), then a pull of
 * everything pushed with each blob's digest verified. Blobs are pushed one at a time: the figure is
 * the throughput of one transfer.
 */
import { BlobSource } from "../data.js";
import { pullBlob, pushBlob, type PushMode } from "../protocol.js";
import type { Workload } from "../scenarios.js";

const modes: readonly PushMode[] = ["monolithic", "chunked", "streamed"];

export function blobsWorkload(which: "big" | "huge"): Workload {
  return {
    name: `blobs-${which}`,
    async run(ctx) {
      const { opts } = ctx;
      const size = which === "big" ? opts.bigBytes : opts.hugeBytes;
      const count = which === "big" ? opts.bigCount : 1;
      const target = { base: ctx.server.url, agent: ctx.agent };
      const pushed: Array<{ repo: string; digest: string }> = [];
      // Untimed warm-up, one small blob per mode: a fresh Node server has not compiled its hot paths yet.
      for (const mode of modes) {
        const warm = new BlobSource(Math.min(size, 2 * opts.chunkBytes));
        await pullBlob(target, "bench/warm-up", await pushBlob(target, "bench/warm-up", warm, mode, opts.chunkBytes), warm.size);
      }
      for (const mode of modes) {
        const repo = `bench/push-${mode}`;
        const blobs = Array.from({ length: count }, () => new BlobSource(size));
        // A monolithic PUT names the digest up front: the client computes it before the clock starts.
        if (mode === "monolithic") for (const blob of blobs) blob.digest();
        await ctx.phase(`push.${mode}.${which}`, async () => {
          for (const blob of blobs) pushed.push({ repo, digest: await pushBlob(target, repo, blob, mode, opts.chunkBytes) });
          return size * count;
        });
      }
      await ctx.phase(`pull.${which}`, async () => {
        let bytes = 0;
        for (const { repo, digest } of pushed) bytes += await pullBlob(target, repo, digest, size);
        return bytes;
      });
    },
  };
}
