/**
 * What a run does: sizes and counts, full (the figures) or quick (a tiny run for the smoke
 * test and for development), each overridable by a flag.
 */
import { Command, Option } from "commander";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";

export interface Options {
  quick: boolean;
  /** The figures, every workload, no size overridden: only such a run writes the repository's BENCHMARKS.md. */
  full: boolean;
  rounds: number;
  concurrency: number;
  /** The "64 MiB" blobs: size, and how many are pushed per mode per round. */
  bigBytes: number;
  bigCount: number;
  /** The "1 GiB" blob: one per mode per round. */
  hugeBytes: number;
  /** PATCH size of chunked pushes. */
  chunkBytes: number;
  smallBlobs: number;
  smallBytes: number;
  manifests: number;
  tags: number;
  tagPage: number;
  repos: number;
  catalogPage: number;
  mounts: number;
  merges: number;
  mergeLayerBytes: number;
  /** Manifests and blobs read in each access-control workload. */
  authItems: number;
  /** The S3 memory check: this many pushes at once, each of this size, to lading alone. */
  parallelPushes: number;
  parallelBytes: number;
  /** Operations of the mix sent through one lading replica, then through three, on one bucket. */
  replicaOps: number;
  /** The garbage-collection store: repositories, tagged manifests, blobs (half of them garbage). */
  gcRepos: number;
  gcManifests: number;
  gcBlobs: number;
  /** Manifest GETs per second sent while lading collects (and, for comparison, while it does not). */
  gcReadRate: number;
  /** The web UI's store: repositories, and the tags of its biggest; page loads timed per view. */
  uiRepos: number;
  uiTags: number;
  uiViews: number;
  /** The mirror's images, pulled through it cold, then warm: how many, and the size of each one's own layer (their shared base layer is 4 times as big). */
  mirrorImages: number;
  mirrorLayerBytes: number;
  /** Read-only phases repeat their requests until at least this long has passed. */
  minSeconds: number;
  /** Write phases are preceded by this many unmeasured operations per hundred measured (other items, same requests)... */
  warmup: number;
  /** ...and by at least this many seconds of them. */
  warmupSeconds: number;
  /** Machine-limit probes: bytes hashed, written, uploaded and downloaded. */
  machineBytes: number;
  only: string[] | undefined;
  /** Where results.json, chart.svg and (quick or --out) BENCHMARKS.md go. */
  out: string;
  /** Whether --out was given (a full run's files then go there, not into the repository). */
  outExplicit: boolean;
  /** Where BENCHMARKS.md goes. */
  markdown: string;
  /** Where servers keep their storage while they run. */
  work: string;
  keep: boolean;
  /** Re-derive and re-render this results.json instead of running. */
  render: string | undefined;
}

const MiB = 1 << 20;

const full = {
  rounds: 3, concurrency: 32, bigMib: 64, bigCount: 4, hugeMib: 1024, chunkKib: 8192, smallBlobs: 2000, smallBytes: 4096,
  manifests: 500, tags: 1000, tagPage: 100, repos: 1000, catalogPage: 100, mounts: 1000, merges: 3, mergeLayerKib: 4096, authItems: 50,
  parallelPushes: 16, parallelMib: 256, replicaOps: 2000, gcRepos: 1000, gcManifests: 20000, gcBlobs: 50000, gcReadRate: 500, uiRepos: 10000, uiTags: 5000, uiViews: 20, mirrorImages: 64, mirrorLayerKib: 1024, minSeconds: 1.5, warmup: 200, warmupSeconds: 3, machineMib: 256,
};
const quick: typeof full = {
  rounds: 1, concurrency: 32, bigMib: 1, bigCount: 1, hugeMib: 2, chunkKib: 256, smallBlobs: 20, smallBytes: 4096,
  manifests: 10, tags: 10, tagPage: 3, repos: 10, catalogPage: 3, mounts: 10, merges: 1, mergeLayerKib: 64, authItems: 10,
  parallelPushes: 2, parallelMib: 2, replicaOps: 40, gcRepos: 4, gcManifests: 20, gcBlobs: 100, gcReadRate: 100, uiRepos: 60, uiTags: 60, uiViews: 3, mirrorImages: 4, mirrorLayerKib: 16, minSeconds: 0, warmup: 200, warmupSeconds: 0, machineMib: 8,
};

const int = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`not a non-negative integer: ${value}`);
  return n;
};

const seconds = (value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`not a non-negative number of seconds: ${value}`);
  return n;
};

export function parseOptions(argv: string[], repoRoot: string): Options {
  const command = new Command("bench")
    .description("lading against Debian's docker-registry, interleaved, on fresh storage (see BENCHMARKS.md)")
    .option("--quick", "a tiny run (1 round, 1 MiB blobs, 20 small blobs, ...); never writes the repository's BENCHMARKS.md")
    .option("--out <dir>", "write results.json, chart.svg and BENCHMARKS.md here (default: bench/results/ and the repository's BENCHMARKS.md for a full run, a temp dir otherwise)")
    .option("--work <dir>", "where servers keep their storage (default: a fresh directory in the temp dir)")
    .option("--only <ids>", "comma-separated workloads or scenario-id prefixes (e.g. small,manifest; s3 for every workload on S3, s3.manifest for some)")
    .option("--keep", "keep each server's storage and log")
    .option("--render <results.json>", "run nothing: re-derive ratios and checks of a results file and rewrite it, chart.svg and BENCHMARKS.md")
    .addHelpText(
      "after",
      "\nThe S3 workloads (s3-*: blobs, redirected pulls, small blobs, manifests, tags, memory, replicas) start one\n" +
        "Ceph RADOS Gateway in RAM for the run (ceph-mon, ceph-osd, radosgw from Debian), a fresh bucket per server,\n" +
        "and run lading and the reference on the same gateway with the same storage.s3 keys. They use the sizes above\n" +
        "('64 MiB' blobs, chunk size, small blobs, manifests, tags) and the --parallel-* and --replica-ops ones.",
    )
    .showHelpAfterError();
  const flags: Array<[keyof typeof full, string]> = [
    ["rounds", "rounds, each running every workload against lading then the reference"],
    ["concurrency", "requests in flight in the small-blob, manifest, tag, catalog, mount and access-control workloads"],
    ["bigMib", "size of the '64 MiB' blobs"], ["bigCount", "'64 MiB' blobs pushed per mode per round"],
    ["hugeMib", "size of the '1 GiB' blob"], ["chunkKib", "PATCH size of chunked pushes"],
    ["smallBlobs", "small blobs"], ["smallBytes", "size of a small blob"], ["manifests", "manifests"],
    ["tags", "tags in the tag list"], ["tagPage", "page size (n) of the paginated tag list"], ["repos", "repositories in the catalog"],
    ["catalogPage", "page size (n) of the catalog walk"], ["mounts", "cross-repository mounts"], ["merges", "merges per round"],
    ["mergeLayerKib", "size of each layer of the merged images"],
    ["authItems", "manifests and blobs read with and without access control (each setup request costs the reference a bcrypt)"],
    ["parallelPushes", "S3 memory check: blobs pushed to lading at once"], ["parallelMib", "S3 memory check: size of each of them"],
    ["replicaOps", "S3 replicas: operations of the mix (3 manifest GETs, 1 small-blob push) through one lading, then through three"],
    ["gcRepos", "garbage collection: repositories in the store"], ["gcManifests", "garbage collection: tagged manifests in the store"],
    ["gcBlobs", "garbage collection: blobs in the store, half of them garbage"],
    ["gcReadRate", "garbage collection: manifest GETs per second sent while lading collects"],
    ["uiRepos", "web UI: repositories in the store"], ["uiTags", "web UI: tags of its biggest repository"], ["uiViews", "web UI: page loads timed per view"],
    ["mirrorImages", "mirror: images pulled through it, cold then warm"], ["mirrorLayerKib", "mirror: size of each image's own layer (the base layer they share is 4 times as big)"],
    ["minSeconds", "read phases repeat until this long has passed"],
    ["warmup", "unmeasured operations before each write phase (and the access-control reads), per hundred measured"],
    ["warmupSeconds", "and at least this many seconds of them"],
    ["machineMib", "bytes per machine-limit probe"],
  ];
  for (const [key, help] of flags) {
    const flag = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    command.addOption(new Option(`--${flag} <n>`, help).argParser(key === "minSeconds" || key === "warmupSeconds" ? seconds : int));
  }
  command.parse(argv, { from: "user" });
  const given = command.opts<Record<string, unknown>>();
  const base = given.quick === true ? quick : full;
  const pick = (key: keyof typeof full): number => (typeof given[key] === "number" ? (given[key] as number) : base[key]);
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const only = typeof given.only === "string" ? given.only.split(",").map((s) => s.trim()).filter(Boolean) : undefined;
  const isFull = given.quick !== true && only === undefined && flags.every(([key]) => given[key] === undefined);
  const outGiven = typeof given.out === "string" ? resolve(given.out) : undefined;
  const render = typeof given.render === "string" ? resolve(given.render) : undefined;
  const out = outGiven ?? (render ? dirname(render) : isFull ? join(repoRoot, "bench", "results") : join(tmpdir(), `lading-bench-${stamp}`));
  return {
    quick: given.quick === true,
    full: isFull,
    rounds: Math.max(1, pick("rounds")),
    concurrency: Math.max(1, pick("concurrency")),
    bigBytes: pick("bigMib") * MiB,
    bigCount: Math.max(1, pick("bigCount")),
    hugeBytes: pick("hugeMib") * MiB,
    chunkBytes: Math.max(1, pick("chunkKib")) * 1024,
    smallBlobs: Math.max(1, pick("smallBlobs")),
    smallBytes: Math.max(1, pick("smallBytes")),
    manifests: Math.max(1, pick("manifests")),
    tags: Math.max(1, pick("tags")),
    tagPage: Math.max(1, pick("tagPage")),
    repos: Math.max(1, pick("repos")),
    catalogPage: Math.max(1, pick("catalogPage")),
    mounts: Math.max(1, pick("mounts")),
    merges: Math.max(1, pick("merges")),
    mergeLayerBytes: Math.max(1, pick("mergeLayerKib")) * 1024,
    authItems: Math.max(1, pick("authItems")),
    parallelPushes: Math.max(1, pick("parallelPushes")),
    parallelBytes: Math.max(1, pick("parallelMib")) * MiB,
    replicaOps: Math.max(1, pick("replicaOps")),
    gcRepos: Math.max(1, pick("gcRepos")),
    gcManifests: Math.max(1, pick("gcManifests")),
    gcBlobs: Math.max(1, pick("gcBlobs")),
    gcReadRate: Math.max(1, pick("gcReadRate")),
    uiRepos: Math.max(2, pick("uiRepos")),
    uiTags: Math.max(1, pick("uiTags")),
    uiViews: Math.max(1, pick("uiViews")),
    mirrorImages: Math.max(1, pick("mirrorImages")),
    mirrorLayerBytes: Math.max(1, pick("mirrorLayerKib")) * 1024,
    minSeconds: pick("minSeconds"),
    warmup: pick("warmup"),
    warmupSeconds: pick("warmupSeconds"),
    machineBytes: Math.max(1, pick("machineMib")) * MiB,
    only,
    out,
    outExplicit: outGiven !== undefined,
    markdown: isFull && outGiven === undefined ? join(repoRoot, "BENCHMARKS.md") : join(out, "BENCHMARKS.md"),
    work: typeof given.work === "string" ? resolve(given.work) : join(tmpdir(), `lading-bench-work-${process.pid}`),
    keep: given.keep === true,
    render,
  };
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1 << 30 && bytes % (1 << 30) === 0) return `${bytes / (1 << 30)} GiB`;
  if (bytes >= MiB && bytes % MiB === 0) return `${bytes / MiB} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}
