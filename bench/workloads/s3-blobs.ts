/**
 * Big blobs on S3. `s3-blobs`: pushed monolithic and chunked, one at a time, then pulled through
 * the registry (both with redirects disabled), each digest verified. `s3-redirect`: the same blobs
 * pushed unmeasured to registries that redirect blob GETs to presigned URLs of the gateway, then
 * pulled by following the redirect, as docker does: the registry answers, the gateway sends.
 */
import { gatewayUnavailable } from "../gateway.js";
import { BlobSource } from "../data.js";
import { pullBlob, pullRedirectedBlob, pushBlob, type PushMode, type Target } from "../protocol.js";
import type { Workload, WorkloadContext } from "../scenarios.js";

const modes = ["monolithic", "chunked"] as const satisfies readonly PushMode[];

/** Untimed, one small blob per mode and pulled back: a fresh Node server has not compiled its hot paths yet. */
async function warmUp(ctx: WorkloadContext, target: Target, pull: typeof pullBlob): Promise<void> {
  for (const mode of modes) {
    const warm = new BlobSource(Math.min(ctx.opts.bigBytes, 2 * ctx.opts.chunkBytes));
    await pull(target, "bench/warm-up", await pushBlob(target, "bench/warm-up", warm, mode, ctx.opts.chunkBytes), warm.size);
  }
}

export const s3BlobsWorkload: Workload = {
  name: "s3-blobs",
  s3: { redirect: false },
  unavailable: gatewayUnavailable,
  async run(ctx) {
    const { opts } = ctx;
    const target = { base: ctx.server.url, agent: ctx.agent };
    const pushed: Array<{ repo: string; digest: string }> = [];
    await warmUp(ctx, target, pullBlob);
    for (const mode of modes) {
      const repo = `bench/push-${mode}`;
      const blobs = Array.from({ length: opts.bigCount }, () => new BlobSource(opts.bigBytes));
      // A monolithic PUT names the digest up front: the client computes it before the clock starts.
      if (mode === "monolithic") for (const blob of blobs) blob.digest();
      await ctx.phase(`s3.push.${mode}`, async () => {
        for (const blob of blobs) pushed.push({ repo, digest: await pushBlob(target, repo, blob, mode, opts.chunkBytes) });
        return opts.bigBytes * blobs.length;
      });
    }
    await ctx.phase("s3.pull", async () => {
      let bytes = 0;
      for (const { repo, digest } of pushed) bytes += await pullBlob(target, repo, digest, opts.bigBytes);
      return bytes;
    });
  },
};

export const s3RedirectWorkload: Workload = {
  name: "s3-redirect",
  s3: { redirect: true },
  unavailable: gatewayUnavailable,
  async run(ctx) {
    const { opts } = ctx;
    const target = { base: ctx.server.url, agent: ctx.agent };
    const repo = "bench/pull-redirect";
    await warmUp(ctx, target, pullRedirectedBlob);
    const digests: string[] = [];
    for (let i = 0; i < opts.bigCount; i++) digests.push(await pushBlob(target, repo, new BlobSource(opts.bigBytes), "chunked", opts.chunkBytes));
    await ctx.phase("s3.pull.redirect", async () => {
      let bytes = 0;
      for (const digest of digests) bytes += await pullRedirectedBlob(target, repo, digest, opts.bigBytes);
      return bytes;
    });
  },
};
