/**
 * Garbage collection of a big store: `gcRepos` repositories holding `gcManifests` tagged manifests
 * and `gcBlobs` blobs, half of them garbage (linked into their repository, as blobs of deleted
 * images are, but referenced by no manifest). The same store, byte for byte, is placed into each
 * server's fresh storage before it starts, as a restored backup would be.
 *
 * lading collects while it serves: `lading gc --storage DIR --grace 0s` (the running server
 * carries it out) while manifest GETs by tag go on at `gcReadRate` per second; their p99 latency is
 * reported against the same reads without a collection. The reference collects offline: `docker-registry garbage-collect`
 * over the same store (its server idle meanwhile; no write reaches it), its CPU that of the
 * collector process. Each collection must delete exactly the garbage, or the run fails.
 */
import { spawn } from "node:child_process";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import { join } from "node:path";
import { call, expectStatus, runPool } from "../http.js";
import { layoutWriter } from "../store-layout.js";
import { imageManifest, manifestAccept, type Target } from "../protocol.js";
import type { Options } from "../options.js";
import type { PhaseResult, Workload } from "../scenarios.js";
import { referenceBinary } from "../servers.js";
import { referenceConfig, onFilesystem } from "../server-config.js";
import { stringify } from "yaml";


/** The store's shape: per repository, its manifests' tags (t0, t1, ...) and what they name. */
interface Shape {
  repos: number;
  manifestsPerRepo: number;
  /** Blobs the manifests use per repository: a config and layers (besides the manifests' own bytes). */
  contentPerRepo: number;
  garbagePerRepo: number;
}

export function shapeOf(opts: Options): Shape {
  const repos = Math.max(1, opts.gcRepos);
  const manifestsPerRepo = Math.max(1, Math.round(opts.gcManifests / repos));
  const blobsPerRepo = Math.max(2 * (manifestsPerRepo + 2), Math.round(opts.gcBlobs / repos));
  const live = Math.ceil(blobsPerRepo / 2);
  return { repos, manifestsPerRepo, contentPerRepo: Math.max(2, live - manifestsPerRepo), garbagePerRepo: blobsPerRepo - live };
}

const repoName = (r: number): string => `bench/gc-${String(r).padStart(4, "0")}`;

/**
 * Writes the store in registry:2's layout under `storage` (docker/registry/v2): deterministic, so
 * both registries get the same one. Returns how many blobs are garbage.
 */
export function writeStore(storage: string, shape: Shape): { garbage: number; blobs: number } {
  const { v2, blob, link } = layoutWriter(storage);
  let blobs = 0;
  for (let r = 0; r < shape.repos; r++) {
    const repo = join(v2, "repositories", repoName(r));
    const content = Array.from({ length: shape.contentPerRepo }, (_, k) => blob(`repository ${r} content ${k}\n`));
    const garbage = Array.from({ length: shape.garbagePerRepo }, (_, k) => blob(`repository ${r} garbage ${k}\n`));
    for (const b of [...content, ...garbage]) link(join(repo, "_layers/sha256", b.digest.slice(7)), b.digest);
    for (let m = 0; m < shape.manifestsPerRepo; m++) {
      // The first manifest names every layer, so that every content blob is referenced.
      const layers = m === 0 ? content.slice(1) : [content[1 + (m % (content.length - 1))]!];
      const manifest = blob(imageManifest(content[0]!, layers, { "org.example.n": String(m) }));
      link(join(repo, "_manifests/revisions/sha256", manifest.digest.slice(7)), manifest.digest);
      link(join(repo, "_manifests/tags", `t${m}`, "current"), manifest.digest);
      link(join(repo, "_manifests/tags", `t${m}`, "index/sha256", manifest.digest.slice(7)), manifest.digest);
    }
    blobs += content.length + garbage.length + shape.manifestsPerRepo;
  }
  return { garbage: shape.repos * shape.garbagePerRepo, blobs };
}

/** Runs a command under bash, returning its output and its CPU (user + system, from `times`). */
function timed(command: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string; cpuSeconds: number }> {
  const quoted = [command, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const child = spawn("bash", ["-c", `${quoted}; status=$?; times >&3; exit $status`], { stdio: ["ignore", "pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let times = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  (child.stdio[3] as NodeJS.ReadableStream).on("data", (d: Buffer) => (times += d.toString()));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      // `times` prints the shell's own user/system times, then its children's: "0m1.234s 0m0.567s".
      const children = times.trim().split("\n")[1] ?? "";
      const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce((sum, m) => sum + Number(m[1]) * 60 + Number(m[2]), 0);
      resolve({ code: code ?? 1, stdout, stderr, cpuSeconds: seconds });
    });
  });
}

/** p99 of latencies in ms. */
function p99(latencies: number[]): number {
  const sorted = [...latencies].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0;
}

/**
 * Manifest GETs by tag over the repositories at a fixed rate (`perSecond`, sent on schedule whether
 * or not earlier ones are answered) until `done()`, at least `minCount`. Each latency counts from
 * when the request was due, so a server that stalls is not measured only by the few requests it
 * let through.
 */
async function readAtRate(t: Target, shape: Shape, perSecond: number, done: () => boolean, minCount: number, from = 0): Promise<number[]> {
  const latencies: number[] = [];
  const inFlight = new Set<Promise<void>>();
  const start = performance.now();
  for (let i = from; i - from < minCount || !done(); i++) {
    const due = start + ((i - from) * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const repo = repoName((i * 7919) % shape.repos);
    const tag = `t${i % shape.manifestsPerRepo}`;
    const request = call({ method: "GET", url: `${t.base}/v2/${repo}/manifests/${tag}`, agent: t.agent, headers: { Accept: manifestAccept } }).then((reply) => {
      expectStatus(reply, `GET manifest ${repo}:${tag}`, 200);
      latencies.push(performance.now() - due);
    });
    inFlight.add(request);
    void request.finally(() => inFlight.delete(request)).catch(() => {});
  }
  await Promise.all(inFlight);
  return latencies;
}

/**
 * Puts the store into `storage`: written once per run into a template beside the servers, then
 * hard-linked (`cp -al`): neither registry changes a file in place (they write new files and
 * rename them, and delete), so the template stays as written.
 */
async function placeStore(storage: string, opts: Options): Promise<void> {
  const shape = shapeOf(opts);
  const template = join(opts.work, `gc-template-${shape.repos}-${shape.manifestsPerRepo}-${shape.contentPerRepo}-${shape.garbagePerRepo}`);
  if (!existsSync(join(template, "complete"))) {
    rmSync(template, { recursive: true, force: true });
    writeStore(template, shape);
    writeFileSync(join(template, "complete"), "");
  }
  const copy = spawn("cp", ["-al", join(template, "docker"), `${storage}/`], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  copy.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(copy, "close")) as [number | null];
  if (code !== 0) throw new Error(`cp -al of the garbage-collection store failed: ${stderr}`);
}

export const gcWorkload: Workload = {
  name: "gc",
  prepare: placeStore,
  async run(ctx) {
    const { opts, server } = ctx;
    const shape = shapeOf(opts);
    const garbage = shape.repos * shape.garbagePerRepo;
    const target: Target = { base: server.url, agent: ctx.agent };
    if (server.kind === "lading") {
      // Every manifest read once, unmeasured: both phases then read from the same warm page cache.
      const manifests = shape.repos * shape.manifestsPerRepo;
      await runPool(manifests, opts.concurrency, async (i) => {
        const reply = await call({ method: "GET", url: `${target.base}/v2/${repoName(i % shape.repos)}/manifests/t${Math.floor(i / shape.repos)}`, agent: target.agent, headers: { Accept: manifestAccept } });
        expectStatus(reply, "warm-up GET", 200);
      });
      let read = 0;
      await ctx.phase("gc.reads", async (): Promise<PhaseResult> => {
        const start = performance.now();
        const latencies = await readAtRate(target, shape, opts.gcReadRate, () => performance.now() - start >= Math.max(2000, opts.minSeconds * 1000), 1);
        read = latencies.length;
        return { units: latencies.length, p99Ms: p99(latencies) };
      });
      await ctx.phase("gc.collect", async (): Promise<PhaseResult> => {
        let finished = false;
        const collecting = timed(process.execPath, [join(ctx.repoRoot, "dist/src/cli/main.js"), "gc", "--storage", server.storage, "--grace", "0s", "--json"]).finally(() => (finished = true));
        const latencies = await readAtRate(target, shape, opts.gcReadRate, () => finished, 1, read);
        const result = await collecting;
        if (result.code !== 0) throw new Error(`lading gc failed: ${result.stderr}`);
        const report = JSON.parse(result.stdout) as { blobs: { deleted: number } };
        if (report.blobs.deleted !== garbage) throw new Error(`lading gc deleted ${report.blobs.deleted} blobs; the garbage is ${garbage}`);
        return { units: 1, extraCpuSeconds: result.cpuSeconds, p99Ms: p99(latencies) };
      });
      return;
    }
    const config = join(server.storage, "..", "gc-config.yml");
    writeFileSync(config, stringify(referenceConfig(onFilesystem, server.storage, "127.0.0.1:0", {})));
    await ctx.phase("gc.collect", async (): Promise<PhaseResult> => {
      const result = await timed(referenceBinary, ["garbage-collect", config]);
      if (result.code !== 0) throw new Error(`docker-registry garbage-collect failed: ${result.stderr.slice(-2000)}`);
      const eligible = /(\d+) blobs and (\d+) manifests eligible for deletion/.exec(result.stdout + result.stderr);
      if (Number(eligible?.[1]) !== garbage) throw new Error(`docker-registry garbage-collect found ${eligible?.[1] ?? "?"} blobs eligible; the garbage is ${garbage}`);
      return { units: 1, extraCpuSeconds: result.cpuSeconds };
    });
  },
};
