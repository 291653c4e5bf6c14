/**
 * The soak (`npm run soak`): many clients push and pull overlapping images through one lading for
 * minutes, with lading's default limits (but the per-client rate: every client here shares one
 * address). Each client pushes an image (a unique config, three layers from a shared pool, so that
 * concurrent pushes of one blob meet), then pulls two images any client pushed, verifying every
 * digest. A 429 is waited on (its Retry-After) and retried, as real clients do; anything else that
 * is not the answer wanted is an error. At the end it prints its figures and exits 1 if there was an
 * error or the server's memory kept growing (the last third's peak above the first third's by more
 * than a quarter and 32 MiB).
 */
import { Command } from "commander";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { call, keepAliveAgent, type Call, type Reply } from "./http.js";
import { currentRss } from "./proc.js";
import { killLiveServers, startServer } from "./servers.js";

const MiB = 1 << 20;
const sha256 = (data: Buffer) => `sha256:${createHash("sha256").update(data).digest("hex")}`;
const manifestType = "application/vnd.oci.image.manifest.v1+json";

interface Figures {
  pushes: number;
  pulls: number;
  requests: number;
  retried: number;
  errors: string[];
  bytesUp: number;
  bytesDown: number;
  latencies: number[];
}

interface Pushed {
  repo: string;
  tag: string;
  manifest: string;
  blobs: string[];
}

async function main(): Promise<void> {
  const program = new Command("soak")
    .option("--clients <n>", "clients at once", (v) => Number(v), 200)
    .option("--seconds <n>", "how long", (v) => Number(v), 180)
    .option("--pool <n>", "layers shared by the images", (v) => Number(v), 40)
    .parse();
  const { clients, seconds, pool: poolSize } = program.opts<{ clients: number; seconds: number; pool: number }>();
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
  const work = await mkdtemp(join(tmpdir(), "lading-soak-"));
  process.once("SIGINT", () => {
    killLiveServers();
    process.exit(130);
  });
  const server = await startServer("lading", work, repoRoot);
  const agent = keepAliveAgent(clients);
  const layers = Array.from({ length: poolSize }, (_, i) => randomBytes(1024 + ((i * 7919) % 512) * 1024));
  const figures: Figures = { pushes: 0, pulls: 0, requests: 0, retried: 0, errors: [], bytesUp: 0, bytesDown: 0, latencies: [] };
  const pushed: Pushed[] = [];
  const rss: number[] = [];
  const sampler = setInterval(() => rss.push(currentRss(server.pid)), 1000);
  const deadline = Date.now() + seconds * 1000;

  /** One request, retried after Retry-After on 429; the reply, which must have one of `ok`. */
  const send = async (c: Omit<Call, "agent">, what: string, ...ok: number[]): Promise<Reply> => {
    for (;;) {
      const started = performance.now();
      const reply = await call({ ...c, agent });
      figures.requests++;
      figures.latencies.push(performance.now() - started);
      if (reply.status === 429) {
        figures.retried++;
        await new Promise((r) => setTimeout(r, Number(reply.headers["retry-after"] ?? 1) * 1000 * Math.random()));
        continue;
      }
      if (!ok.includes(reply.status)) throw new Error(`${what}: HTTP ${reply.status} ${reply.body.toString("utf8", 0, 200)}`);
      return reply;
    }
  };

  const push = async (client: number, n: number): Promise<void> => {
    const repo = `soak/r${client % 20}`;
    const chosen = [0, 1, 2].map((k) => layers[(client * 3 + n * 5 + k * 11) % layers.length]!);
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", client, n, rootfs: { type: "layers", diff_ids: [] } }));
    for (const blob of [config, ...chosen]) {
      const digest = sha256(blob);
      const head = await send({ method: "HEAD", url: `${server.url}/v2/${repo}/blobs/${digest}` }, `HEAD ${repo} ${digest}`, 200, 404);
      if (head.status === 200) continue;
      const started = await send({ method: "POST", url: `${server.url}/v2/${repo}/blobs/uploads/` }, `POST ${repo}`, 202);
      const location = new URL(started.headers.location!, server.url);
      location.searchParams.set("digest", digest);
      await send({ method: "PUT", url: location, body: blob, headers: { "Content-Type": "application/octet-stream" } }, `PUT ${repo} ${digest}`, 201);
      figures.bytesUp += blob.length;
    }
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: manifestType,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
      layers: chosen.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256(l), size: l.length })),
    });
    const tag = `c${client}-${n % 3}`;
    await send({ method: "PUT", url: `${server.url}/v2/${repo}/manifests/${tag}`, body: Buffer.from(manifest), headers: { "Content-Type": manifestType } }, `PUT ${repo}:${tag}`, 201);
    pushed.push({ repo, tag, manifest: sha256(Buffer.from(manifest)), blobs: [sha256(config), ...chosen.map(sha256)] });
    figures.pushes++;
  };

  const pull = async (): Promise<void> => {
    const image = pushed[Math.floor(Math.random() * pushed.length)];
    if (image === undefined) return;
    const got = await send({ method: "GET", url: `${server.url}/v2/${image.repo}/manifests/${image.manifest}`, headers: { Accept: manifestType } }, `GET ${image.repo}@${image.manifest}`, 200);
    if (sha256(got.body) !== image.manifest) throw new Error(`GET ${image.repo}@${image.manifest}: other bytes came back`);
    for (const digest of image.blobs) {
      const hash = createHash("sha256");
      const blob = await call({ method: "GET", url: `${server.url}/v2/${image.repo}/blobs/${digest}`, agent, sink: (chunk) => hash.update(chunk) });
      figures.requests++;
      if (blob.status !== 200) throw new Error(`GET ${image.repo} ${digest}: HTTP ${blob.status}`);
      if (`sha256:${hash.digest("hex")}` !== digest) throw new Error(`GET ${image.repo} ${digest}: other bytes came back`);
      figures.bytesDown += blob.received;
    }
    figures.pulls++;
  };

  const started = Date.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      for (let n = 0; Date.now() < deadline; n++) {
        try {
          await push(client, n);
          await pull();
          await pull();
        } catch (err) {
          figures.errors.push((err as Error).message);
        }
      }
    }),
  );
  const elapsed = (Date.now() - started) / 1000;
  clearInterval(sampler);
  await server.stop();
  await agent.close();
  await rm(work, { recursive: true, force: true });

  const third = Math.max(1, Math.floor(rss.length / 3));
  const early = Math.max(...rss.slice(0, third));
  const late = Math.max(...rss.slice(-third));
  const grew = late > early * 1.25 + 32 * MiB;
  const sorted = figures.latencies.sort((a, b) => a - b);
  const pct = (p: number) => (sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0).toFixed(1);
  const lines = [
    `soak: ${clients} clients for ${elapsed.toFixed(0)} s against lading (default limits, no per-client rate)`,
    `  pushes ${figures.pushes} (${(figures.pushes / elapsed).toFixed(1)}/s), pulls ${figures.pulls} (${(figures.pulls / elapsed).toFixed(1)}/s), requests ${figures.requests} (${(figures.requests / elapsed).toFixed(0)}/s)`,
    `  uploaded ${(figures.bytesUp / MiB).toFixed(0)} MiB, downloaded ${(figures.bytesDown / MiB).toFixed(0)} MiB`,
    `  latency ms (requests with an answer wanted): p50 ${pct(50)}, p99 ${pct(99)}, max ${pct(100)}`,
    `  429 answers waited on and retried: ${figures.retried}`,
    `  server RSS: first third's peak ${(early / MiB).toFixed(0)} MiB, last third's ${(late / MiB).toFixed(0)} MiB${grew ? " — GREW" : " (flat)"}`,
    `  errors: ${figures.errors.length}`,
    ...figures.errors.slice(0, 10).map((e) => `    ${e}`),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  if (figures.errors.length > 0 || grew) process.exitCode = 1;
}

main().catch((err: unknown) => {
  killLiveServers();
  process.stderr.write(`soak: ${(err as Error).message}\n`);
  process.exit(1);
});
