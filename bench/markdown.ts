/** BENCHMARKS.md and the console summary, both from the results. */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, relative } from "node:path";
import { machineFields } from "./machine.js";
import { costCheckPrefix, targetThroughput, verdicts, type Check, type Results, type ScenarioResult } from "./report.js";

export function num(value: number | null, digits?: number): string {
  if (value === null || !Number.isFinite(value)) return "—";
  const d = digits ?? (Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : Math.abs(value) >= 1 ? 2 : 3);
  return value.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
}

const times = (v: number | null): string => (v === null ? "—" : `${num(v, 2)}×`);
const verdict = (c: Check | undefined): string => (c === undefined || c.met === null ? "" : c.met ? "met" : "**not met**");

function throughputRow(s: ScenarioResult): string[] {
  const ratioCheck = s.checks.find((c) => c.what === "throughput ratio");
  const cpuCheck = s.checks.find((c) => c.what.startsWith("server CPU"));
  const rssCheck = s.checks.find((c) => c.what === "lading peak RSS, MiB");
  if (s.status === "not available" || s.status === "skipped") return [s.title, s.status, ...Array<string>(8).fill("")];
  return [
    s.status === "failed" ? `${s.title} (**failed**)` : s.title,
    `${num(s.lading.throughput.median)} ${s.unit}`,
    s.ladingOnly ? "not measured" : `${num(s.reference.throughput.median)} ${s.unit}`,
    times(s.ratio),
    ratioCheck ? `${ratioCheck.want.replace("≥ ", "≥")} ${verdict(ratioCheck)}` : "",
    `${num(s.lading.cpuPerUnit.median)} / ${num(s.reference.cpuPerUnit.median)} ${s.cpuUnit}`,
    cpuCheck ? `${times(s.cpuRatio)} (${cpuCheck.want}) ${verdict(cpuCheck)}` : times(s.cpuRatio),
    `${num(s.lading.peakRssMiB.max, 0)}${rssCheck?.met === false ? " **over**" : ""}`,
    num(s.reference.peakRssMiB.max, 0),
    s.ofMachineLimit === null ? "" : `${num(s.ofMachineLimit * 100, 0)}% of ${s.machineLimit ?? ""}`,
  ];
}

/** The phases after which a server went on working, with how long (medians), as a paragraph. */
function settleNote(scenarios: ScenarioResult[]): string[] {
  const busy = scenarios.flatMap((s) =>
    (["lading", "reference"] as const).flatMap((k) => {
      const median = s[k].settleSeconds?.median ?? null;
      return median !== null && median > 0 ? [`${s.id} (${k}) ${num(median, 2)} s`] : [];
    }),
  );
  if (busy.length === 0) return [];
  return ["", `Work after the last answer (median time until the server was idle): ${busy.join(", ")}.`];
}

/** The request latencies some workloads time (p99, medians over rounds), as a paragraph. */
function latencyNote(scenarios: ScenarioResult[]): string[] {
  const timed = scenarios.flatMap((s) => (["lading", "reference"] as const).flatMap((k) => {
    const median = s[k].p99Ms?.median ?? null;
    return median === null ? [] : [`${s.id} (${k}) ${num(median, 1)} ms`];
  }));
  if (timed.length === 0) return [];
  return ["", `Latency, p99 (for \`gc.collect\`, of the manifest GETs served while lading collected; for \`gc.reads\`, of the same reads without a collection; for \`ui.*\`, of page loads in Chromium until the table is drawn): ${timed.join(", ")}.`];
}

/** The scenarios measured on lading alone, with why, as a paragraph. */
function ladingOnlyNote(scenarios: ScenarioResult[]): string[] {
  const reasons = new Map<string, string[]>();
  for (const s of scenarios) if (s.ladingOnly && s.status !== "skipped") reasons.set(s.ladingOnly, [...(reasons.get(s.ladingOnly) ?? []), `\`${s.id}\``]);
  if (reasons.size === 0) return [];
  return ["", `Measured on lading alone: ${[...reasons].map(([why, ids]) => `${ids.join(", ")} (${why})`).join("; ")}.`];
}

/** The scenarios set against a baseline of the same run (access control against none), as a table. */
function costTable(scenarios: ScenarioResult[]): string[] {
  const byId = new Map(scenarios.map((s) => [s.id, s]));
  const rows = scenarios.flatMap((s) => {
    if (s.baseline === null || s.status !== "ok") return [];
    const check = s.checks.find((c) => c.what.startsWith(costCheckPrefix));
    return [[
      s.title,
      `${num(s.lading.throughput.median)} ${s.unit}`,
      `\`${s.baseline.id}\``,
      `${num(byId.get(s.baseline.id)?.lading.throughput.median ?? null)} ${s.unit}`,
      s.cost === null ? "—" : `${num(s.cost * 100, 1)}%`,
      check ? `${check.want} ${verdict(check)}` : "",
    ]];
  });
  if (rows.length === 0) return [];
  return [
    "",
    "What a feature costs lading: its throughput against a baseline scenario measured in the same run (for access control, the same reads without it; for three replicas on one bucket, one replica; for warm pulls through the mirror, the same pulls of the same images pushed to lading); cost = 1 − lading / lading in the baseline (negative: a gain).",
    "",
    table(["scenario", "lading", "baseline", "lading there", "cost", "target"], rows),
  ];
}

/** The write phases' warm-up as a results file gives it ("200% of its count and at least 3 s"), or "" for none. */
function warmupText(options: Results["options"]): string {
  const share = typeof options.warmup === "number" && options.warmup > 0 ? `${options.warmup}% of its count` : "";
  const seconds = typeof options.warmupSeconds === "number" && options.warmupSeconds > 0 ? `${num(options.warmupSeconds)} s` : "";
  return share && seconds ? `${share} and at least ${seconds}` : share || (seconds ? `at least ${seconds}` : "");
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, "\\|").replace(/\n/g, " ")).join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** `bounds`: the hand-written account of what bounds each figure (bench/bounds.md), placed after the method. */
export function markdown(results: Results, chartPath: string, markdownPath: string, bounds?: string): string {
  const r = results;
  const minutes = r.durationSeconds / 60;
  const warmup = warmupText(r.options);
  const out: string[] = [];
  out.push("# Benchmarks: lading and the reference registry, side by side", "");
  out.push(
    `Generated by \`${r.command}\` (${r.full ? "full run" : r.quick ? "quick run: sizes are not the issue's" : "partial run"}) on ${r.startedAt.slice(0, 10)}; the run took ${num(minutes, 1)} min.`,
    `${r.rounds} round(s); in each, every workload runs against lading, then against the reference (${String(r.environment.reference)}), each on a freshly started server with fresh storage.`,
    `Environment: ${String(r.environment.cpus)} CPUs (${String(r.environment.cpuModel)}), Node ${String(r.environment.node)}, Linux ${String(r.environment.kernel)}, lading at ${String(r.environment.commit)}.`,
    "",
    "How to read it: values are medians over rounds; a **ratio** is lading / reference of those medians (throughput: higher is better; CPU: lower is better).",
    "**CPU** is the server process's user + system time from /proc/PID/stat, per GB moved or in milliseconds per operation.",
    "**CPU** and **peak RSS** run on after a phase's last answer until the server is idle again (a 100 ms window under a tenth of a core), so work done after answering counts in the phase that caused it; the clock of the throughput stops at the last answer.",
    "**Peak RSS** (MiB) is VmHWM, reset at the start of each phase by writing 5 to /proc/PID/clear_refs; the maximum over rounds.",
    "Targets are the issue's, informational: nothing fails on them. The last column is lading's median as a share of the machine limit that bounds it, measured in the same run.",
    "",
    `![lading/reference throughput ratios against the targets](${relative(dirname(markdownPath), chartPath)})`,
    "",
    "## Results",
    "",
    table(["scenario", "lading", "reference", "ratio", "target", "CPU lading / reference", "CPU ratio", "peak RSS lading", "peak RSS ref.", "lading vs machine"], r.scenarios.map(throughputRow)),
    ...settleNote(r.scenarios),
    ...latencyNote(r.scenarios),
    ...ladingOnlyNote(r.scenarios),
    ...costTable(r.scenarios),
    "",
  );
  const decided = verdicts(r);
  const missed = decided.filter((v) => v.check.met === false);
  out.push("## Targets", "", `${decided.length - missed.length} of ${decided.length} checks met.`, "");
  out.push(table(["scenario", "check", "want", "actual", ""], decided.map(({ scenario, check }) => [scenario.id, check.what, check.want, num(check.actual), verdict(check) || "met"])), "");
  const beyond = missed.filter(({ scenario, check }) => check.what === "throughput ratio" && scenario.targetOfMachineLimit !== null);
  if (beyond.length > 0) {
    out.push("What the unmet throughput targets would take, against the machine limit that bounds each, measured in the same run:", "");
    for (const { scenario: s } of beyond) {
      out.push(`- \`${s.id}\`: ${s.target ?? ""}× the reference is ${num(targetThroughput(s))} ${s.unit}, ${num((s.targetOfMachineLimit ?? 0) * 100, 0)}% of ${s.machineLimit ?? ""} (lading: ${num((s.ofMachineLimit ?? 0) * 100, 0)}%).`);
    }
    out.push("");
  }
  const unusual = r.scenarios.filter((s) => s.status !== "ok");
  if (unusual.length > 0) {
    out.push("## Not measured", "");
    for (const s of unusual) out.push(`- \`${s.id}\`: **${s.status}**: ${(s.note ?? "").split("\n")[0]}`);
    out.push("");
  }
  out.push(
    "## How each figure is made",
    "",
    "- Blob pushes: one blob at a time, pseudo-random bytes generated in 1 MiB chunks (never held whole). Monolithic: POST, then PUT `?digest=` with the body (the client hashes before the clock starts). Chunked: PATCHes with `Content-Range` and `Content-Length`, hashed while sent, then an empty PUT. Streamed: one PATCH without a length (chunked transfer encoding), then an empty PUT. Throughput is blob bytes over wall time.",
    "- Pull: every blob pushed in the workload, GET streamed into sha256 and compared with the digest and size. The machine's download probe hashes the same way, so the two compare like with like.",
    "- The load client is undici (Node's own HTTP/1.1 client) through its `dispatch` API, about half of node:http's CPU per request; small blobs, manifests, tags, catalog and mounts run with a keep-alive agent (at most `concurrency` connections). Write phases do exactly the stated count; read phases repeat over the same items until the stated count and a minimum time have both passed.",
    ...(warmup ? [`- Each write phase of small blobs, manifests and mounts follows an unmeasured warm-up of ${warmup} on other items (the same requests, into another repository), against both registries alike, and the server's background work from it is waited out: the figure is a running server's rate, not its first few thousand requests (a fresh Node process runs those in V8's interpreter and baseline compiler while it compiles its hot paths on the other core).`] : []),
    "- Small-blob pushes are POST + PUT (the reference has no single-POST upload). Manifests are distinct OCI manifests over one config and one layer; HEAD is by tag.",
    "- The reference ignores `n` and `last` on tag lists, so its paginated walk is a single request returning every tag; lading's is one request per page. Both count as one walk, checked to have seen every tag.",
    "- The catalog walk follows `Link` headers until the last page and checks every repository was seen; the reference walks its whole storage tree for each page.",
    "- Mounts: blobs pushed once to a source repository, each mounted (POST `?mount=&from=`, 201 required) into target repositories.",
    "- Garbage collection: a store of registry:2's layout written into each server's fresh storage before it starts (the same bytes for both): per repository, tagged manifests over one config and a few layers, and as many garbage blobs as live ones, linked into the repository as blobs of deleted images are. lading: `lading gc --storage DIR --grace 0s` (carried out by the running server) while manifest GETs by tag are sent at the stated rate, each timed from when it was due. The reference: `docker-registry garbage-collect` over its store, its server idle; its CPU is the collector process's (bash `times`), lading's the server's plus the CLI's. Each run must delete exactly the garbage. A collection per round: the figure is collections per second (1 / its time).",
    "- Merge: `node dist/src/cli/main.js merge BASE MAVEN GOLANG --tag TARGET` against each registry (one CLI process per merge, so Node's start-up is in every figure); the merged manifest is checked to have every layer.",
    "- On S3: one Ceph RADOS Gateway (Debian's radosgw 16, one OSD keeping objects in RAM) for the whole run, started when an S3 workload is selected and stopped by PID at the end; every server gets a fresh bucket, deleted afterwards with its space reclaimed at once. Both registries use the same `storage.s3` keys (registry:2's: endpoint, region, bucket, keys, `secure: false`, `v4auth: true`; chunk size and copy thresholds at their defaults), the reference with its blob-descriptor cache in memory as its official image configures it. Blob GETs come through the registries (`storage.redirect.disable: true` on both) except in `s3.pull.redirect`, where both redirect to a presigned URL and the client follows it: that figure is the gateway's. The gateway's own rates (its machine-limit rows) are measured from the bench's process with the workloads' client on presigned URLs, the same sizes and concurrency.",
    "- On S3, lading alone: the memory check pushes many big blobs at once (each one streamed PATCH, on a connection of its own) and reports lading's peak RSS and, per upload in flight, that peak over its RSS at the start; three replicas against one sends the same mix (three manifest GETs by tag to one small-blob push) through one lading, then round-robin through three on the same bucket, their CPU summed and their peak RSS that of the largest.",
    "- Access control: the same reads (manifest HEAD and GET by tag, small-blob HEAD) on a server without it, with Basic credentials on every request (one user in an htpasswd file, bcrypt cost 10; lading also with a one-rule policy), and on lading alone with a bearer token asked once of its /token with those credentials. Each mode is its own server on fresh storage, pushed to with the same credentials; the reads follow an unmeasured warm-up on the same items (lading runs bcrypt once per password and then compares an HMAC; the reference runs bcrypt on every request).",
    "",
  );
  if (bounds) out.push(bounds.trimEnd(), "");
  out.push("## The machine's limits, measured in the same run", "");
  out.push(table(["what", "median", "per round"], machineFields.map(([key, label, unit]) => [label.trim(), `${num(r.machine[key].median)} ${unit}`, r.machine[key].values.map((v) => num(v)).join(", ")])), "");
  out.push(
    "## Running it",
    "",
    "```sh",
    "npm run build",
    "npm run bench                                  # full run (~the figures above); writes BENCHMARKS.md, bench/results/{results.json,chart.svg}",
    "npm run bench -- --quick --out /tmp/bench      # a tiny run, for checking the harness",
    "npm run bench -- --only small,manifests        # some workloads (written to a temp dir, not here)",
    "npm run bench -- --only s3                     # every workload on S3 (starts a Ceph gateway in RAM for the run)",
    "npm run bench -- --help                        # every size and count",
    "```",
    "",
  );
  return out.join("\n");
}

export async function writeMarkdown(results: Results, chartPath: string, file: string, bounds?: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, markdown(results, chartPath, file, bounds));
}

/** The same table for a terminal. */
export function consoleSummary(results: Results): string {
  const rows = results.scenarios.map((s) => {
    const target = s.checks.find((c) => c.what === "throughput ratio");
    const unmet = s.checks.filter((c) => c.met === false).map((c) => c.what);
    if (s.status === "not available" || s.status === "skipped" || s.status === "failed") return [s.id, s.status.toUpperCase(), "", "", "", "", "", (s.note ?? "").split("\n")[0]!.slice(0, 100)];
    return [
      s.id,
      `${num(s.lading.throughput.median)} ${s.unit}`,
      `${num(s.reference.throughput.median)}`,
      times(s.ratio) + (target ? ` (${target.want})` : ""),
      `${num(s.lading.cpuPerUnit.median)}/${num(s.reference.cpuPerUnit.median)} ${s.cpuUnit}`,
      `${num(s.lading.peakRssMiB.max, 0)}/${num(s.reference.peakRssMiB.max, 0)} MiB`,
      unmet.length ? "NOT MET" : s.checks.some((c) => c.met) ? "met" : "",
      unmet.join("; "),
    ];
  });
  const header = ["scenario", "lading", "reference", "ratio (target)", "CPU lading/ref", "peak RSS lading/ref", "targets", ""];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const fmt = (row: string[]) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd();
  const machine = machineFields.map(([key, label, unit]) => `  ${label.trim()}: ${num(results.machine[key].median)} ${unit}`);
  return [fmt(header), ...rows.map(fmt), "", "machine limits (medians):", ...machine].join("\n");
}
