/**
 * Cross-repository mounts: blobs pushed once to a source repository, then mounted (POST
 * ?mount=&from=, 201 expected) into target repositories, `concurrency` in flight, each blob into
 * each target at most once.
 */
import { BlobSource } from "../data.js";
import { runPool } from "../http.js";
import { mountBlob, pushBytes } from "../protocol.js";
import { warmUp, type Workload } from "../scenarios.js";

const maxSources = 100;

export const mountsWorkload: Workload = {
  name: "mounts",
  async run(ctx) {
    const { opts } = ctx;
    const target = { base: ctx.server.url, agent: ctx.agent };
    const from = "bench/mount-source";
    const digests: string[] = [];
    for (let i = 0; i < Math.min(opts.mounts, maxSources); i++) {
      const blob = new BlobSource(opts.smallBytes);
      digests.push(blob.digest());
      await pushBytes(target, from, blob.bytes(), blob.digest());
    }
    const k = digests.length;
    const mountInto = (prefix: string) => (i: number) => mountBlob(target, `${prefix}-${Math.floor(i / k)}`, from, digests[i % k]!);
    await warmUp(opts, opts.mounts, mountInto("bench/mount-warmup"));
    await ctx.phase("mounts", () =>
      runPool(opts.mounts, opts.concurrency, mountInto("bench/mount-target")),
    );
  },
};
