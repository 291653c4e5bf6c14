import { createHash } from "node:crypto";
import { unlink } from "node:fs/promises";
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import { upstreamsOf } from "../mirror/settings.js";
import { collect, CollectionRefused, type CollectOptions, type CollectReport, type RetentionRule } from "../registry/gc.js";
import { checkStore, type FsckOptions, type FsckReport } from "../registry/fsck.js";
import type { Registry } from "../registry/index.js";
import type { Metrics } from "./metrics.js";

/**
 * Maintenance inside the server. On the filesystem one process owns the store, and what it has
 * acknowledged may still be in its journal: another process sees only the tree, so a collection
 * run beside a live server must run inside it. The server listens on a Unix socket beside its
 * store (only who may read the store may reach it), and `lading gc` and `lading fsck` find it there.
 */

/** Where the server of a filesystem store listens for maintenance requests. */
export function adminSocketPath(rootdirectory: string): string {
  const root = resolve(rootdirectory);
  const beside = join(root, ".lading-admin.sock");
  // A socket's path is limited to about 100 bytes: a deep root gets one in the temporary directory.
  return Buffer.byteLength(beside) <= 100 ? beside : join(tmpdir(), `lading-admin-${createHash("sha256").update(root).digest("hex").slice(0, 16)}.sock`);
}

/** Runs one garbage collection in this server: the log and /metrics hear of it. */
export async function runCollection(registry: Registry, options: CollectOptions, log: Logger, metrics: Metrics | undefined): Promise<CollectReport> {
  const dryrun = String(options.dryRun === true);
  let report: CollectReport;
  try {
    report = await collect(registry, options);
  } catch (err) {
    if (err instanceof CollectionRefused) {
      // Another collection runs (on a shared store, perhaps another replica's schedule): not a fault.
      metrics?.gcRuns.inc({ outcome: "refused", dryrun });
      log.info({ reason: err.message }, "garbage collection not started");
      throw err;
    }
    metrics?.gcRuns.inc({ outcome: "failed", dryrun });
    log.error({ err }, "garbage collection failed");
    throw err;
  }
  if (metrics !== undefined) {
    metrics.gcRuns.inc({ outcome: "ok", dryrun });
    metrics.gcDeleted.inc({ kind: "blob", dryrun }, report.blobs.deleted);
    metrics.gcDeleted.inc({ kind: "manifest", dryrun }, report.manifests.deleted);
    metrics.gcDeleted.inc({ kind: "link", dryrun }, report.links.deleted);
    metrics.gcDeleted.inc({ kind: "upload", dryrun }, report.uploads.deleted);
    metrics.gcDeleted.inc({ kind: "tag", dryrun }, report.tags.deleted);
    metrics.gcFreedBytes.inc({ dryrun }, report.blobs.bytesFreed);
    metrics.gcKept.set({ reason: "reachable" }, report.blobs.reachable);
    metrics.gcKept.set({ reason: "young" }, report.blobs.young);
    metrics.gcKept.set({ reason: "inuse" }, report.blobs.inUse);
    metrics.gcDuration.set(report.durationMs / 1000);
    metrics.gcLast.set(Date.now() / 1000);
  }
  const { deletedBlobs, deletedManifests, deletedTags, ...summary } = report;
  void deletedBlobs;
  void deletedManifests;
  void deletedTags;
  log.info(summary, report.dryRun ? "garbage collection (dry run)" : "garbage collection");
  for (const problem of report.problems) log.warn({ problem }, "garbage collection skipped something broken");
  return report;
}

/** The collection options a config gives, before command-line flags. */
export function collectOptionsOf(config: Config): CollectOptions {
  const gc = config.lading.gc;
  const purging = config.storage.maintenance.uploadpurging;
  return { dryRun: gc.dryrun, deleteUntagged: gc.deleteuntagged, graceMs: gc.grace, retention: gc.retention, windowMs: gc.window, ...(purging.enabled ? { uploadsAgeMs: purging.age } : {}) };
}

/** Whether a repository is a mirror's cache (its manifests name what was never pulled). */
function mirroredRepository(config: Config): (name: string) => boolean {
  const prefixes = upstreamsOf(config).map((u) => u.prefix);
  return (name) => prefixes.some((p) => p === "" || name.startsWith(`${p}/`));
}

/** The check options a config gives (`lading fsck`), before command-line flags. */
export function checkOptionsOf(config: Config): FsckOptions {
  const purging = config.storage.maintenance.uploadpurging;
  const sparse = config.lading.manifests.sparse;
  return {
    repair: false,
    hash: true,
    live: false,
    uploadsAgeMs: purging.enabled ? purging.age : undefined,
    requireBlobs: !sparse,
    requireChildren: config.validation.manifests.indexes.platforms !== "none" && !sparse,
    sparseRepository: mirroredRepository(config),
  };
}

export interface Schedule {
  /** No more collections; resolves once the one running, if any, is over. */
  stop(): Promise<void>;
}

/**
 * Collects every `lading.gc.interval` while serving, when `lading.gc.enabled`; the first time one
 * interval after start. A time that comes while the last collection still runs is skipped.
 */
export function scheduleCollection(registry: Registry, config: Config, log: Logger, metrics: Metrics): Schedule | undefined {
  const gc = config.lading.gc;
  if (!gc.enabled || config.storage.maintenance.readonly.enabled) return undefined;
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    if (running !== undefined) return;
    running = runCollection(registry, collectOptionsOf(config), log, metrics)
      .catch(() => {})
      .finally(() => (running = undefined));
  }, Math.min(gc.interval, 2 ** 31 - 1));
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}

export interface AdminSocket {
  close(): Promise<void>;
}

/** Listens on the store's maintenance socket: `POST /gc` with collection options in JSON. */
export async function openAdminSocket(path: string, registry: Registry, config: Config, log: Logger, metrics: Metrics): Promise<AdminSocket> {
  // A socket left by a server that died: this process owns the store now.
  await unlink(path).catch(() => {});
  const server: Server = createServer((req, res) => void handleAdmin(req, res, registry, config, log, metrics));
  await new Promise<void>((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolvePromise();
    });
  });
  return {
    close: async () => {
      await new Promise<void>((resolvePromise) => server.close(() => resolvePromise()));
      await unlink(path).catch(() => {});
    },
  };
}

async function handleAdmin(req: IncomingMessage, res: ServerResponse, registry: Registry, config: Config, log: Logger, metrics: Metrics): Promise<void> {
  const reply = (status: number, body: unknown) => {
    res.writeHead(status, { "Content-Type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const route = req.method === "POST" ? req.url : undefined;
  if (route !== "/gc" && route !== "/fsck") return reply(404, { error: `no such maintenance request: ${req.method} ${req.url}` });
  let body: unknown;
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch (err) {
    return reply(400, { error: `bad maintenance request: ${(err as Error).message}` });
  }
  if (route === "/fsck") {
    const o = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
    try {
      reply(200, await checkLive(registry, { ...checkOptionsOf(config), hash: o.hash !== false }, log));
    } catch (err) {
      reply(500, { error: (err as Error).message });
    }
    return;
  }
  let options: CollectOptions;
  try {
    options = parseCollectOptions(body);
  } catch (err) {
    return reply(400, { error: `bad collection request: ${(err as Error).message}` });
  }
  try {
    reply(200, await runCollection(registry, options, log, metrics));
  } catch (err) {
    reply(err instanceof CollectionRefused ? 409 : 500, { error: (err as Error).message });
  }
}

/** Checks the store this server owns, reading through it (what it has acknowledged included); never repairs. */
async function checkLive(registry: Registry, options: FsckOptions, log: Logger): Promise<FsckReport> {
  const report = await checkStore(registry.driver, { ...options, repair: false, live: true });
  log.info({ sound: report.sound, problems: report.problemCount, blobs: report.blobs.checked, duration_ms: report.durationMs }, "store check");
  return report;
}

function parseCollectOptions(value: unknown): CollectOptions {
  const o = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  if (typeof o.graceMs !== "number" || o.graceMs < 0) throw new Error("graceMs must be a number of milliseconds");
  if (o.uploadsAgeMs !== undefined && typeof o.uploadsAgeMs !== "number") throw new Error("uploadsAgeMs must be a number of milliseconds");
  if (o.retention !== undefined && !Array.isArray(o.retention)) throw new Error("retention must be a list of rules");
  return {
    dryRun: o.dryRun === true,
    deleteUntagged: o.deleteUntagged === true,
    graceMs: o.graceMs,
    ...(typeof o.uploadsAgeMs === "number" ? { uploadsAgeMs: o.uploadsAgeMs } : {}),
    ...(Array.isArray(o.retention) ? { retention: o.retention.map(retentionRuleOf) } : {}),
  };
}

function retentionRuleOf(value: unknown): RetentionRule {
  const r = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  const strings = (v: unknown, what: string): string[] => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new Error(`retention ${what} must be a list of strings`);
    return v as string[];
  };
  const number = (v: unknown, what: string): number | undefined => {
    if (v !== undefined && typeof v !== "number") throw new Error(`retention ${what} must be a number`);
    return v;
  };
  return { repositories: strings(r.repositories, "repositories"), keeptags: strings(r.keeptags ?? [], "keeptags"), keeplast: number(r.keeplast, "keeplast"), olderthan: number(r.olderthan, "olderthan") };
}

/**
 * Asks the server owning a filesystem store to collect; undefined when no server listens there
 * (then the caller may open the store itself).
 */
export function collectThroughServer(path: string, options: CollectOptions): Promise<CollectReport | undefined> {
  return askServer<CollectReport>(path, "/gc", options);
}

/** Asks the server owning a filesystem store to check it (`lading fsck` without `--repair`); undefined when none listens. */
export function checkThroughServer(path: string, options: { hash: boolean }): Promise<FsckReport | undefined> {
  return askServer<FsckReport>(path, "/fsck", options);
}

/** Whether a server listens on the store's maintenance socket. */
export async function serverListens(path: string): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = createConnection(path);
    socket.once("connect", () => {
      socket.destroy();
      resolvePromise(true);
    });
    socket.once("error", () => resolvePromise(false));
  });
}

async function askServer<T>(path: string, route: string, request_: unknown): Promise<T | undefined> {
  const body = Buffer.from(JSON.stringify(request_));
  return new Promise((resolvePromise, reject) => {
    const req = request({ socketPath: path, method: "POST", path: route, headers: { "Content-Type": "application/json", "Content-Length": body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("error", reject);
      res.on("end", () => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        } catch {
          return reject(new Error(`the server at ${path} answered ${res.statusCode} with something that is not JSON`));
        }
        if (res.statusCode === 200) return resolvePromise(parsed as T);
        reject(new Error(`the server owning the store refused: ${(parsed as { error?: string }).error ?? `status ${res.statusCode}`}`));
      });
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT" || err.code === "ECONNREFUSED") resolvePromise(undefined);
      else reject(err);
    });
    req.end(body);
  });
}
