/**
 * `npm run bench`: lading against Debian's docker-registry. Each round measures the machine's
 * limits, then runs every workload against lading and then the reference (A B A B ...: this
 * machine's speed drifts, so neighbours in time are compared), each workload on a freshly started
 * server with fresh storage. Medians, ratios and targets go to the console, results.json,
 * BENCHMARKS.md and chart.svg. A failing workload is reported and the run goes on; the exit code
 * is 1 if anything failed.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { cpus, release } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { writeChart } from "./chart.js";
import { startGateway, type Gateway } from "./gateway.js";
import { probeGateway } from "./gateway-probe.js";
import { keepAliveAgent } from "./http.js";
import { probeMachine } from "./machine.js";
import { consoleSummary, num, writeMarkdown } from "./markdown.js";
import { parseOptions, type Options } from "./options.js";
import { collected, derive, record, recordError, summarize, writeJson, type Collected, type Results } from "./report.js";
import { measurePhase, scenarios, type Scenario, type Workload } from "./scenarios.js";
import { onFilesystem, type ServerStorage } from "./server-config.js";
import { killLiveServers, referenceBinary, referenceVersion, registryKinds, startServer, type RegistryKind } from "./servers.js";
import { workloads } from "./workloads/index.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function selected(opts: Options, list: Scenario[]): Set<string> {
  if (opts.only === undefined) return new Set(workloads.map((w) => w.name));
  const names = new Set<string>();
  for (const w of workloads) {
    if (opts.only.some((o) => w.name === o || w.name.startsWith(`${o}-`) || list.some((s) => s.workload === w.name && s.id.startsWith(o)))) names.add(w.name);
  }
  if (names.size === 0) throw new Error(`--only ${opts.only.join(",")} matches no workload (${workloads.map((w) => w.name).join(", ")})`);
  // A cost is measured against a baseline of the same run: its workload comes along.
  for (const s of list) {
    const base = s.baseline === undefined ? undefined : list.find((x) => x.id === s.baseline!.id);
    if (names.has(s.workload) && base !== undefined) names.add(base.workload);
  }
  return names;
}

/** The registries a workload runs against: lading alone when every one of its scenarios says so. */
function kindsFor(w: Workload, list: Scenario[]): RegistryKind[] {
  return registryKinds.filter((kind) => kind === "lading" || list.some((s) => s.workload === w.name && s.ladingOnly === undefined));
}

/**
 * Runs `w` against `kind` on fresh storage: a directory (made by startServer), or a bucket of the
 * gateway, dropped afterwards with what it holds.
 */
async function runWorkload(w: Workload, kind: RegistryKind, round: number, opts: Options, list: Scenario[], c: Collected, gateway: Gateway | Error | undefined): Promise<void> {
  if (w.s3 === undefined) return runServer(w, kind, round, opts, list, c, onFilesystem);
  const failed = (err: unknown): void => {
    for (const s of list) if (s.workload === w.name) recordError(c, s.id, kind, `round ${round}: ${String(err)}`);
    log(`  ${kind} ${w.name}: ${String(err)}`);
  };
  if (gateway === undefined || gateway instanceof Error) return failed(new Error(`the S3 gateway is not running${gateway ? `: ${gateway.message}` : ""}`));
  const bucket = await gateway.bucket(`${w.name}-${kind}`).catch((err: unknown) => failed(new Error(`cannot create a bucket: ${String(err)}`)));
  if (bucket === undefined) return;
  try {
    await runServer(w, kind, round, opts, list, c, { kind: "s3", gateway: gateway.access, bucket, redirect: w.s3.redirect });
  } finally {
    await gateway.drop(bucket).catch((err: unknown) => log(`  ${kind} ${w.name}: could not delete bucket ${bucket}: ${String(err)}`));
  }
}

async function runServer(w: Workload, kind: RegistryKind, round: number, opts: Options, list: Scenario[], c: Collected, storage: ServerStorage): Promise<void> {
  const ids = list.filter((s) => s.workload === w.name).map((s) => s.id);
  const done = new Set<string>();
  let current: string | undefined;
  const couldNotStart = (err: unknown): undefined => {
    for (const id of ids) recordError(c, id, kind, `round ${round}: ${String(err)}`);
    log(`  ${kind} ${w.name}: could not start: ${String(err)}`);
    return undefined;
  };
  const beside = await Promise.resolve(w.beside?.(kind, opts, repoRoot)).catch(couldNotStart);
  if (w.beside !== undefined && beside === undefined) return;
  const server = await Promise.resolve(w.access?.())
    .then((access) => startServer(kind, opts.work, repoRoot, { ...(access === undefined ? {} : { access }), storage, ...(w.prepare === undefined ? {} : { prepare: (dir: string) => w.prepare!(dir, opts) }), ...(beside === undefined ? {} : { config: beside.config }) }))
    .catch(couldNotStart);
  if (server === undefined) {
    await beside?.stop();
    return;
  }
  const agent = keepAliveAgent(opts.concurrency);
  let failed = false;
  try {
    await w.run({
      server,
      agent,
      opts,
      repoRoot,
      storage,
      async phase(id, work, alongside = []) {
        current = id;
        const sample = await measurePhase([server.pid, ...alongside.map((other) => other.pid)], work);
        record(c, id, kind, sample);
        done.add(id);
        current = undefined;
        const s = list.find((x) => x.id === id)!;
        const rate = s.kind === "bytes" ? sample.units / sample.seconds / 1e6 : sample.units / sample.seconds;
        const cpu = s.kind === "bytes" ? `${num(sample.cpuSeconds / (sample.units / 1e9))} CPU-s/GB` : `${num((sample.cpuSeconds * 1000) / sample.units)} CPU-ms/${s.per}`;
        log(`  ${kind.padEnd(9)} ${id.padEnd(22)} ${`${num(rate)} ${s.unit}`.padStart(16)}  ${cpu.padStart(22)}  peak ${num(sample.peakRssBytes / (1 << 20), 0)} MiB  (${num(sample.seconds)} s${sample.settleSeconds > 0 ? `, idle ${num(sample.settleSeconds)} s later` : ""})`);
      },
    });
  } catch (err) {
    failed = true;
    const message = `round ${round}${current ? `, during ${current}` : ", in setup"}: ${err instanceof Error ? err.message : String(err)}\nserver log tail:\n${server.logTail()}`;
    for (const id of ids) if (!done.has(id)) recordError(c, id, kind, message);
    log(`  ${kind} ${w.name} FAILED: ${message}`);
  } finally {
    agent.destroy();
    await server.stop(opts.keep || failed);
    await beside?.stop();
  }
}

/** The run's S3 gateway, or why it could not start (the S3 workloads then fail with it). */
async function startS3Gateway(opts: Options): Promise<Gateway | Error> {
  log("starting the S3 gateway (Ceph RADOS Gateway, objects in RAM)");
  const t0 = performance.now();
  try {
    const gateway = await startGateway(opts);
    log(`  up at ${gateway.access.endpoint} in ${num((performance.now() - t0) / 1000)} s (PIDs ${gateway.pids.join(", ")})`);
    return gateway;
  } catch (err) {
    log(`  the S3 gateway did not start: ${String(err)}`);
    return err instanceof Error ? err : new Error(String(err));
  }
}

function commitOf(): string {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: repoRoot, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: repoRoot, encoding: "utf8" }).trim() !== "";
    return dirty ? `${head} (with uncommitted changes)` : head;
  } catch {
    return "unknown";
  }
}

/** Writes results.json, chart.svg and BENCHMARKS.md, and prints the summary. */
async function publish(results: Results, opts: Options, markdownFile: string): Promise<void> {
  const jsonFile = await writeJson(results, opts.out);
  const chartFile = join(opts.out, "chart.svg");
  await writeChart(results, chartFile);
  await writeMarkdown(results, chartFile, markdownFile, await readFile(join(repoRoot, "bench/bounds.md"), "utf8"));
  process.stdout.write(`\n${consoleSummary(results)}\n\n`);
  log(`wrote ${jsonFile}, ${chartFile}, ${markdownFile}`);
}

/** `--render`: a finished run's results, re-derived (filling fields older files lack) and re-rendered. */
async function render(opts: Options, file: string): Promise<number> {
  const results = JSON.parse(await readFile(file, "utf8")) as Results;
  const known = new Map(scenarios(parseOptions([], repoRoot)).map((s) => [s.id, s]));
  for (const s of results.scenarios) {
    const meta = known.get(s.id);
    s.per ??= meta?.per ?? "request";
    s.target ??= meta?.target ?? null;
    s.cpuTarget ??= meta?.cpuTarget ?? null;
    s.baseline ??= meta?.baseline ?? null;
    s.ladingOnly ??= meta?.ladingOnly ?? null;
    s.rssLimitMiB ??= meta?.rssLimitMiB ?? null;
    s.concurrentUploads ??= meta?.concurrentUploads ?? null;
  }
  const markdownFile = results.full && !opts.outExplicit ? join(repoRoot, "BENCHMARKS.md") : join(opts.out, "BENCHMARKS.md");
  await publish(derive(results), opts, markdownFile);
  return 0;
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2), repoRoot);
  if (opts.render !== undefined) return render(opts, opts.render);
  for (const [file, what] of [[join(repoRoot, "dist/src/cli/main.js"), "lading (run `npm run build`)"], [referenceBinary, "the reference registry (apt-get install docker-registry)"]] as const) {
    if (!existsSync(file)) throw new Error(`${file} is missing: ${what}`);
  }
  const list = scenarios(opts);
  const chosen = selected(opts, list);
  const c = collected();
  const runnable: Workload[] = [];
  for (const w of workloads) {
    if (!chosen.has(w.name)) {
      c.skipped.add(w.name);
      continue;
    }
    const why = await w.unavailable?.(repoRoot);
    if (why === undefined) runnable.push(w);
    else {
      c.unavailable.set(w.name, why);
      log(`NOT AVAILABLE: workload ${w.name}: ${why}`);
    }
  }
  await mkdir(opts.work, { recursive: true });
  const startedAt = new Date();
  log(`lading bench: ${opts.full ? "full run" : opts.quick ? "quick run" : "partial run"}, ${opts.rounds} round(s), workloads ${runnable.map((w) => w.name).join(", ")}; storage under ${opts.work}`);
  let gateway: Gateway | Error | undefined;
  try {
    if (runnable.some((w) => w.s3 !== undefined)) gateway = await startS3Gateway(opts);
    for (let round = 1; round <= opts.rounds; round++) {
      log(`round ${round}/${opts.rounds}: machine limits`);
      const m = await probeMachine(opts, repoRoot);
      log(`  sha256 ${num(m.sha256)} MB/s, disk ${num(m.diskWrite)} MB/s, 4 KiB fsync ${num(m.smallFsync)}/s, upload ${num(m.upload)} MB/s, download ${num(m.download)} MB/s, tiny GETs ${num(m.tinyGets)}/s, tag walks ${num(m.tagWalks)}/s`);
      if (gateway !== undefined && !(gateway instanceof Error)) {
        const g = await probeGateway(gateway, opts);
        Object.assign(m, g);
        log(`  S3 gateway: PUT ${num(g.gatewayPut)} MB/s, GET ${num(g.gatewayGet)} MB/s, small PUTs ${num(g.gatewaySmallPuts)}/s, small GETs ${num(g.gatewaySmallGets)}/s`);
      }
      c.machine.push(m);
      for (const w of runnable) {
        log(`round ${round}/${opts.rounds}: ${w.name}`);
        for (const kind of kindsFor(w, list)) await runWorkload(w, kind, round, opts, list, c, gateway);
      }
    }
  } finally {
    if (gateway !== undefined && !(gateway instanceof Error)) await gateway.stop().catch((err: unknown) => log(`stopping the S3 gateway: ${String(err)}`));
    if (!opts.keep) await rm(opts.work, { recursive: true, force: true });
  }
  const finishedAt = new Date();
  const results = summarize(list, c, {
    tool: "lading bench",
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
    full: opts.full,
    quick: opts.quick,
    rounds: opts.rounds,
    command: ["npm run bench", ...(process.argv.length > 2 ? ["--", ...process.argv.slice(2)] : [])].join(" "),
    options: Object.fromEntries(Object.entries(opts).filter((e): e is [string, number | boolean] => typeof e[1] === "number" || typeof e[1] === "boolean")),
    environment: {
      node: process.version,
      kernel: release(),
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? "unknown",
      reference: await referenceVersion(),
      commit: commitOf(),
    },
  });
  log(`took ${num(results.durationSeconds / 60, 1)} min`);
  await publish(results, opts, opts.markdown);
  return results.scenarios.some((s) => s.status === "failed") ? 1 : 0;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    killLiveServers();
    process.exit(130);
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    killLiveServers();
    log(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(2);
  },
);
