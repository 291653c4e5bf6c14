/**
 * Pulls through a pull-through cache: for each server, a fresh upstream (Debian's docker-registry
 * on loopback, the same for both) holding `mirrorImages` images, each a config, a base layer all
 * share (4 × `mirrorLayerBytes`), a layer of its own and a small one. lading mirrors it under a
 * prefix (lading.mirror.upstreams), the reference with registry:2's `proxy` section. Each image
 * pull is what a client does: the manifest by tag, then its blobs at once, every digest verified;
 * `concurrency` / 4 images in flight. Cold: every image once, nothing cached (concurrent misses of
 * the base layer included). Warm: the same pulls again, from the cache. lading alone also takes the
 * same images pushed into a repository of its own and serves the same pulls from it: the local
 * pulls the warm ones are held against (the reference takes no pushes while it mirrors). After an
 * unmeasured warm-up, warm and local phases alternate, three of each.
 */
import { existsSync } from "node:fs";
import { BlobSource, sha256 } from "../data.js";
import { keepAliveAgent, runPool } from "../http.js";
import { fetchManifest, imageManifest, pullBlob, pushBytes, putManifest, type Target } from "../protocol.js";
import type { Options } from "../options.js";
import { warmUp, type Beside, type Workload } from "../scenarios.js";
import { referenceBinary, startServer, type RegistryKind } from "../servers.js";
import { describe, type Described } from "./images.js";

/** The upstream's repository; lading mirrors it as `${prefix}/${upstreamRepo}`. */
const upstreamRepo = "bench/mirror";
const prefix = "hub";
const localRepo = "bench/local";
const smallLayerBytes = 4096;
/** Warm and local phases per round, in turn: so many samples of each per round. */
export const alternations = 3;

interface Blob extends Described {
  bytes: Buffer;
}

interface Image {
  tag: string;
  manifest: Buffer;
  digest: string;
  blobs: Blob[];
}

function blob(bytes: Buffer): Blob {
  return { ...describe(bytes), bytes };
}

/** The images (the same bytes for both registries), made once per run. */
function makeImages(opts: Options): Image[] {
  const base = blob(new BlobSource(4 * opts.mirrorLayerBytes).bytes());
  return Array.from({ length: opts.mirrorImages }, (_, i) => {
    const layers = [base, blob(new BlobSource(opts.mirrorLayerBytes).bytes()), blob(new BlobSource(smallLayerBytes).bytes())];
    const config = blob(Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", config: { Env: [`IMAGE=${i}`] }, rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) } })));
    const manifest = imageManifest(config, layers);
    return { tag: `t${i}`, manifest, digest: sha256(manifest), blobs: [config, ...layers] };
  });
}

/** Pushes the images' blobs (each once) and manifests (by tag) into `repo`. */
async function pushImages(t: Target, repo: string, images: Image[], concurrency: number): Promise<void> {
  const blobs = new Map(images.flatMap((image) => image.blobs.map((b) => [b.digest, b] as const)));
  const unique = [...blobs.values()];
  await runPool(unique.length, concurrency, (i) => pushBytes(t, repo, unique[i]!.bytes, unique[i]!.digest));
  await runPool(images.length, concurrency, (i) => putManifest(t, repo, images[i]!.tag, images[i]!.manifest));
}

/** One image pulled as a client pulls it: its manifest by tag, then its blobs at once, each verified. */
async function pullImage(t: Target, repo: string, image: Image): Promise<void> {
  await fetchManifest(t, "GET", repo, image.tag, image.digest);
  await Promise.all(image.blobs.map((b) => pullBlob(t, repo, b.digest, b.size)));
}

export function mirrorWorkload(): Workload {
  let images: Image[] | undefined;
  const imagesOf = (opts: Options): Image[] => (images ??= makeImages(opts));
  return {
    name: "mirror",
    async unavailable() {
      return existsSync(referenceBinary) ? undefined : `the upstream is Debian's docker-registry (${referenceBinary}), not installed`;
    },
    async beside(kind: RegistryKind, opts: Options, repoRoot: string): Promise<Beside> {
      const upstream = await startServer("reference", opts.work, repoRoot);
      try {
        const agent = keepAliveAgent(opts.concurrency);
        try {
          await pushImages({ base: upstream.url, agent }, upstreamRepo, imagesOf(opts), opts.concurrency);
        } finally {
          await agent.close();
        }
      } catch (err) {
        await upstream.stop();
        throw err;
      }
      const config = kind === "lading" ? { lading: { mirror: { upstreams: [{ prefix, url: upstream.url }] } } } : { proxy: { remoteurl: upstream.url } };
      return { config, stop: () => upstream.stop(opts.keep) };
    },
    async run(ctx) {
      const { opts } = ctx;
      const all = imagesOf(opts);
      const n = all.length;
      const t: Target = { base: ctx.server.url, agent: ctx.agent };
      const mirrored = ctx.server.kind === "lading" ? `${prefix}/${upstreamRepo}` : upstreamRepo;
      const atOnce = Math.max(1, Math.floor(opts.concurrency / 4));
      const minMs = opts.minSeconds * 1000;
      await ctx.phase("mirror.cold", () => runPool(n, atOnce, (i) => pullImage(t, mirrored, all[i]!)));
      const pulls = (repo: string) => () => runPool(n, atOnce, (i) => pullImage(t, repo, all[i % n]!), minMs);
      const lading = ctx.server.kind === "lading";
      if (lading) await pushImages(t, localRepo, all, opts.concurrency);
      // Unmeasured: the first reads after the start pay for compiling the read path.
      await warmUp(opts, n, (i) => Promise.all([pullImage(t, mirrored, all[i % n]!), ...(lading ? [pullImage(t, localRepo, all[i % n]!)] : [])]).then(() => undefined));
      // Warm and local pulls alternate, so that the machine's drift falls on both alike.
      for (let k = 0; k < alternations; k++) {
        await ctx.phase("mirror.warm", pulls(mirrored));
        if (lading) await ctx.phase("mirror.local", pulls(localRepo));
      }
    },
  };
}
