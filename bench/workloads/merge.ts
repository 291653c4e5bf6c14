/**
 * `lading merge` of a base and two sections built on it (a maven-like one adding a layer, a
 * golang-like one adding two), run as the CLI against each registry. The client is the same for
 * both; the figure is merges per second, the server's CPU per merge and its peak memory. Until the
 * merge command exists in dist/ the scenario is reported as "not available".
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { BlobSource, sha256 } from "../data.js";
import { call, expectStatus } from "../http.js";
import { imageManifest, manifestAccept, pushBytes, putManifest, type Target } from "../protocol.js";
import type { Workload } from "../scenarios.js";
import { describe, tarOf, type Described } from "./images.js";

interface Layer extends Described {
  bytes: Buffer;
  diffId: string;
}

interface Image {
  repo: string;
  layers: Layer[];
  config: Buffer;
}

const path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

async function layer(name: string, size: number): Promise<Layer> {
  const tar = await tarOf([
    { name: `${name}/data.bin`, data: new BlobSource(size).bytes() },
    { name: `${name}/README`, data: Buffer.from(`${name}\n`) },
  ]);
  const bytes = gzipSync(tar, { level: 1 });
  return { ...describe(bytes), bytes, diffId: sha256(tar) };
}

function image(repo: string, layers: Layer[], env: string[], history: Array<{ created_by: string; empty_layer?: boolean }>): Image {
  const config = {
    architecture: "amd64",
    os: "linux",
    config: { Env: env },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history: history.map((h) => ({ created: "2024-01-01T00:00:00Z", ...h })),
  };
  return { repo, layers, config: Buffer.from(JSON.stringify(config)) };
}

/** The three images, built once per run: sections begin with the base's layers, diff_ids and history. */
async function buildImages(layerBytes: number): Promise<Image[]> {
  const base = [await layer("base-os", layerBytes), await layer("base-tools", layerBytes)];
  const baseHistory = [{ created_by: "ADD base-os /" }, { created_by: `ENV ${path}`, empty_layer: true }, { created_by: "ADD base-tools /" }];
  const maven = await layer("opt/maven", layerBytes);
  const go = [await layer("usr/local/go", layerBytes), await layer("root/go", layerBytes)];
  return [
    image("bench/merge-base", base, [path], baseHistory),
    image("bench/merge-maven", [...base, maven], [`PATH=/opt/maven/bin:${path.slice(5)}`, "MAVEN_HOME=/opt/maven"], [...baseHistory, { created_by: "ADD maven /opt/maven" }]),
    image("bench/merge-golang", [...base, ...go], [`PATH=/usr/local/go/bin:/root/go/bin:${path.slice(5)}`, "GOPATH=/root/go"], [
      ...baseHistory,
      { created_by: "ADD go /usr/local/go" },
      { created_by: "ENV GOPATH=/root/go", empty_layer: true },
      { created_by: "RUN go install" },
    ]),
  ];
}

async function pushImage(t: Target, img: Image): Promise<void> {
  for (const l of img.layers) await pushBytes(t, img.repo, l.bytes, l.digest);
  const config = describe(img.config);
  await pushBytes(t, img.repo, img.config, config.digest);
  await putManifest(t, img.repo, "latest", imageManifest(config, img.layers));
}

function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, output }));
  });
}

let built: Promise<Image[]> | undefined;

export const mergeWorkload: Workload = {
  name: "merge",
  async unavailable(repoRoot) {
    const cli = join(repoRoot, "dist/src/cli/main.js");
    if (!existsSync(join(repoRoot, "dist/src/cli/merge.js"))) return "dist/src/cli/merge.js does not exist (the merge command is not built yet)";
    const help = await runCli([cli, "merge", "--help"], process.env);
    if (help.code !== 0 || !help.output.includes("lading merge")) return `\`lading merge --help\` failed (exit ${String(help.code)}): ${help.output.trim().slice(0, 200)}`;
    return undefined;
  },
  async run(ctx) {
    const { opts, server } = ctx;
    const target = { base: server.url, agent: ctx.agent };
    built ??= buildImages(opts.mergeLayerBytes);
    const images = await built;
    for (const img of images) await pushImage(target, img);
    const home = await mkdtemp(join(opts.work, "merge-client-"));
    const authfile = join(home, "auth.json");
    await writeFile(authfile, "{}\n");
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, DOCKER_CONFIG: home };
    const refs = images.map((img) => `${server.host}/${img.repo}:latest`);
    const targets = Array.from({ length: opts.merges }, (_, i) => `bench/merged-${i}`);
    try {
      await ctx.phase("merge", async () => {
        for (const repo of targets) {
          const args = [join(ctx.repoRoot, "dist/src/cli/main.js"), "merge", ...refs, "--tag", `${server.host}/${repo}:latest`, "--authfile", authfile];
          const result = await runCli(args, env);
          if (result.code !== 0) throw new Error(`lading merge into ${server.kind} failed (exit ${String(result.code)}):\n${result.output.trim().slice(-1500)}`);
        }
        return targets.length;
      });
    } finally {
      await rm(home, { recursive: true, force: true });
    }
    // Outside the measured phase: each merged image must have the base's layers and every section's own.
    const want = images[0]!.layers.length + images.slice(1).reduce((sum, img) => sum + img.layers.length - images[0]!.layers.length, 0);
    for (const repo of targets) {
      const reply = await call({ method: "GET", url: `${target.base}/v2/${repo}/manifests/latest`, agent: target.agent, headers: { Accept: manifestAccept } });
      const manifest = JSON.parse(expectStatus(reply, `GET merged ${repo}:latest`, 200).body.toString("utf8")) as { layers?: unknown[] };
      if (manifest.layers?.length !== want) throw new Error(`merged ${repo}:latest has ${String(manifest.layers?.length)} layers, wanted ${want}`);
    }
  },
};
