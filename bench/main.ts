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
import { keepAliveAgent } from "./http.js";
import { probeMachine } from "./machine.js";
import { consoleSummary, num, writeMarkdown } from "./markdown.js";
import { parseOptions, type Options } from "./options.js";
import { collected, derive, record, recordError, summarize, writeJson, type Collected, type Results } from "./report.js";
import { measurePhase, scenarios, type Scenario, type Workload } from "./scenarios.js";
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

async function runWorkload(w: Workload, kind: RegistryKind, round: number, opts: Options, list: Scenario[], c: Collected): Promise<void> {
  const ids = list.filter((s) => s.workload === w.name).map((s) => s.id);
  const done = new Set<string>();
  let current: string | undefined;
  const server = await Promise.resolve(w.access?.()).then((access) => startServer(kind, opts.work, repoRoot, access)).catch((err: unknown) => {
    for (const id of ids) recordError(c, id, kind, `round ${round}: ${String(err)}`);
    log(`  ${kind} ${w.name}: could not start: ${String(err)}`);
    return undefined;
  });
  if (server === undefined) return;
  const agent = keepAliveAgent(opts.concurrency);
  let failed = false;
  try {
    await w.run({
      server,
      agent,
      opts,
      repoRoot,
      async phase(id, work) {
        current = id;
        const sample = await measurePhase(server, work);
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
  try {
    for (let round = 1; round <= opts.rounds; round++) {
      log(`round ${round}/${opts.rounds}: machine limits`);
      const m = await probeMachine(opts, repoRoot);
      c.machine.push(m);
      log(`  sha256 ${num(m.sha256)} MB/s, disk ${num(m.diskWrite)} MB/s, 4 KiB fsync ${num(m.smallFsync)}/s, upload ${num(m.upload)} MB/s, download ${num(m.download)} MB/s, tiny GETs ${num(m.tinyGets)}/s, tag walks ${num(m.tagWalks)}/s`);
      for (const w of runnable) {
        log(`round ${round}/${opts.rounds}: ${w.name}`);
        for (const kind of kindsFor(w, list)) await runWorkload(w, kind, round, opts, list, c);
      }
    }
  } finally {
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
