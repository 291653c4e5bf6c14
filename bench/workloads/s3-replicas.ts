/**
 * One lading replica against three on the same bucket (lading alone: replicas of the reference on
 * one bucket would need a shared blob-descriptor cache). The mix is a registry's usual load: three
 * manifest GETs by tag (on a shared store, every tag is read through from S3) to one small-blob
 * push (a new blob each), `concurrency` in flight; through one replica, then round-robin through
 * three, the second and third started on the first one's bucket. The three's CPU is their sum;
 * their peak RSS, the largest of one. Two cores serve the client, the replicas and the gateway.
 */
import { BlobSource, sha256 } from "../data.js";
import { gatewayUnavailable } from "../gateway.js";
import { runPool } from "../http.js";
import { fetchManifest, pushBytes, putManifest, type Target } from "../protocol.js";
import { warmUp, type Workload } from "../scenarios.js";
import { startServer, type Server } from "../servers.js";
import { distinctManifest, seedImage } from "./images.js";

const repo = "bench/replicas";
/** Of every `pushEvery` operations, one is a small-blob push. */
const pushEvery = 4;

interface Blob {
  bytes: Buffer;
  digest: string;
}

function newBlob(size: number): Blob {
  const source = new BlobSource(size);
  return { bytes: source.bytes(), digest: source.digest() };
}

export const s3ReplicasWorkload: Workload = {
  name: "s3-replicas",
  s3: { redirect: false },
  unavailable: gatewayUnavailable,
  async run(ctx) {
    const { opts } = ctx;
    const first: Target = { base: ctx.server.url, agent: ctx.agent };
    const image = await seedImage(first, repo);
    const n = opts.manifests;
    const digests: string[] = [];
    await runPool(n, opts.concurrency, async (i) => {
      const body = distinctManifest(image, i);
      digests[i] = sha256(body);
      await putManifest(first, repo, `t${i}`, body);
    });
    /** Operation i of the mix, through `targets[i % length]`; a push takes the next of `blobs` (made before the clock starts). */
    const mix = (targets: Target[], blobs?: Blob[]) => {
      let pushed = 0;
      return async (i: number): Promise<void> => {
        const t = targets[i % targets.length]!;
        if (i % pushEvery !== pushEvery - 1) return fetchManifest(t, "GET", repo, `t${i % n}`, digests[i % n]!);
        const blob = blobs?.[pushed++] ?? newBlob(opts.smallBytes);
        return pushBytes(t, repo, blob.bytes, blob.digest);
      };
    };
    const blobsFor = (): Blob[] => Array.from({ length: Math.ceil(opts.replicaOps / pushEvery) }, () => newBlob(opts.smallBytes));
    const measure = async (id: string, targets: Target[], alongside: Server[]): Promise<void> => {
      await warmUp(opts, opts.replicaOps, mix(targets));
      const blobs = blobsFor();
      await ctx.phase(id, () => runPool(opts.replicaOps, opts.concurrency, mix(targets, blobs)), alongside);
    };
    await measure("s3.replicas.one", [first], []);
    const more: Server[] = [];
    try {
      for (let i = 0; i < 2; i++) more.push(await startServer("lading", opts.work, ctx.repoRoot, { storage: ctx.storage }));
      await measure("s3.replicas.three", [first, ...more.map((s) => ({ base: s.url, agent: ctx.agent }))], more);
    } finally {
      for (const server of more) await server.stop(opts.keep);
    }
  },
};
