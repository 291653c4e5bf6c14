/**
 * The machine's own limits, measured in the same run as the registries (once per round): what the
 * registries' figures are bounded by. The download probe hashes like a verified pull does, so the
 * pull target ("within 10% of the raw loopback download") compares like with like.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { mkdir, open, rm } from "node:fs/promises";
import { join } from "node:path";
import { BlobSource } from "./data.js";
import type { GatewaySample } from "./gateway-probe.js";
import { call, expectStatus, keepAliveAgent, runPool } from "./http.js";
import type { Options } from "./options.js";
import { cpuSeconds } from "./proc.js";
import { fetchWholeLists, walkLists } from "./workloads/tags.js";

/** The gateway's fields only in rounds with S3 workloads (see gateway-probe.ts). */
export interface MachineSample extends Partial<GatewaySample> {
  /** sha256 with node:crypto on one core, MB/s. */
  sha256: number;
  /** Sequential 1 MiB writes then one fdatasync, MB/s. */
  diskWrite: number;
  /** 4 KiB file create + write + fsync, per second. */
  smallFsync: number;
  /** Loopback HTTP upload into a Node server that discards, MB/s, and that server's CPU-s per GB. */
  upload: number;
  uploadCpuPerGB: number;
  /** Loopback HTTP download from a Node server, hashed by the client, MB/s, and the server's CPU-s per GB. */
  download: number;
  downloadCpuPerGB: number;
  /** Tiny GETs on a bare Node http server at the workloads' concurrency, per second. */
  tinyGets: number;
  /** The tag workload's list from that server (each page serialized once), whole and walked page by page, per second. */
  tagLists: number;
  tagWalks: number;
}

export const machineFields: ReadonlyArray<[keyof MachineSample, string, string]> = [
  ["sha256", "sha256, node:crypto, one core", "MB/s"],
  ["diskWrite", "disk write, 1 MiB writes + fdatasync", "MB/s"],
  ["smallFsync", "4 KiB create + write + fsync", "/s"],
  ["upload", "loopback HTTP upload into a discarding Node server", "MB/s"],
  ["uploadCpuPerGB", "  that server's CPU per GB", "CPU-s/GB"],
  ["download", "loopback HTTP download from a Node server, sha256 verified", "MB/s"],
  ["downloadCpuPerGB", "  that server's CPU per GB", "CPU-s/GB"],
  ["tinyGets", "tiny GETs on a bare Node http server", "req/s"],
  ["tagLists", "the tag list, whole, from a bare Node http server", "req/s"],
  ["tagWalks", "the tag list walked page by page, from a bare Node http server", "walks/s"],
  ["gatewayPut", "S3 gateway (Ceph RGW, in RAM): PUT of a '64 MiB' object, one at a time, presigned", "MB/s"],
  ["gatewayGet", "S3 gateway: GET of it, sha256 verified", "MB/s"],
  ["gatewaySmallPuts", "S3 gateway: small-blob-sized PUTs at the workloads' concurrency", "/s"],
  ["gatewaySmallGets", "S3 gateway: GETs of them at the workloads' concurrency", "/s"],
];

const seconds = (t0: number): number => (performance.now() - t0) / 1000;

export async function probeMachine(opts: Options, repoRoot: string): Promise<MachineSample> {
  const bytes = opts.machineBytes;
  const source = new BlobSource(bytes);

  let t0 = performance.now();
  const hash = createHash("sha256");
  for (const chunk of source.chunks()) hash.update(chunk);
  hash.digest();
  const sha256 = bytes / seconds(t0) / 1e6;

  const dir = join(opts.work, `machine-${Date.now()}`);
  await mkdir(dir, { recursive: true });
  let diskWrite: number;
  let smallFsync: number;
  try {
    t0 = performance.now();
    const file = await open(join(dir, "big"), "w");
    for (const chunk of source.chunks()) await file.write(chunk);
    await file.datasync();
    await file.close();
    diskWrite = bytes / seconds(t0) / 1e6;
    const files = Math.max(20, Math.round(bytes / (1 << 20)));
    const small = Buffer.alloc(4096, 7);
    t0 = performance.now();
    for (let i = 0; i < files; i++) {
      const f = await open(join(dir, `s${i}`), "w");
      await f.write(small);
      await f.sync();
      await f.close();
    }
    smallFsync = files / seconds(t0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return { sha256, diskWrite, smallFsync, ...(await probeLoopback(opts, repoRoot, source)) };
}

type LoopbackSample = Omit<MachineSample, "sha256" | "diskWrite" | "smallFsync">;

async function probeLoopback(opts: Options, repoRoot: string, source: BlobSource): Promise<LoopbackSample> {
  const child = spawn(process.execPath, [join(repoRoot, "dist/bench/rawserver.js"), String(opts.tags)], { stdio: ["ignore", "pipe", "inherit"] });
  const pid = child.pid;
  if (pid === undefined) throw new Error("cannot start the raw loopback server");
  const exited = once(child, "exit");
  try {
    const [line] = (await once(child.stdout, "data")) as [Buffer];
    const { port } = JSON.parse(line.toString("utf8")) as { port: number };
    const base = `http://127.0.0.1:${port}`;
    const agent = keepAliveAgent(opts.concurrency);
    const repeats = 4;
    const total = source.size * repeats;

    let cpu0 = cpuSeconds(pid);
    let t0 = performance.now();
    for (let i = 0; i < repeats; i++) {
      const reply = await call({ method: "PUT", url: `${base}/upload`, agent, headers: { "Content-Length": source.size }, body: source.chunks() });
      expectStatus(reply, "raw upload", 201);
    }
    const upload = total / seconds(t0) / 1e6;
    const uploadCpuPerGB = (cpuSeconds(pid) - cpu0) / (total / 1e9);

    cpu0 = cpuSeconds(pid);
    t0 = performance.now();
    for (let i = 0; i < repeats; i++) {
      const hash = createHash("sha256");
      const reply = await call({ method: "GET", url: `${base}/bytes/${source.size}`, agent, sink: (chunk) => hash.update(chunk) });
      expectStatus(reply, "raw download", 200);
      hash.digest();
      if (reply.received !== source.size) throw new Error(`raw download: ${reply.received} bytes, wanted ${source.size}`);
    }
    const download = total / seconds(t0) / 1e6;
    const downloadCpuPerGB = (cpuSeconds(pid) - cpu0) / (total / 1e9);

    t0 = performance.now();
    const done = await runPool(opts.concurrency * 10, opts.concurrency, async () => {
      expectStatus(await call({ method: "GET", url: `${base}/tiny`, agent }), "tiny GET", 200);
    }, opts.minSeconds * 1000);
    const tinyGets = done / seconds(t0);

    // The tag workload's two phases themselves.
    const target = { base, agent };
    t0 = performance.now();
    const tagLists = (await fetchWholeLists(target, "/tags/list", opts)) / seconds(t0);
    t0 = performance.now();
    const tagWalks = (await walkLists(target, "/tags/list", opts)) / seconds(t0);
    agent.destroy();
    return { upload, uploadCpuPerGB, download, downloadCpuPerGB, tinyGets, tagLists, tagWalks };
  } finally {
    if (child.exitCode === null) process.kill(pid, "SIGTERM");
    await exited;
  }
}
