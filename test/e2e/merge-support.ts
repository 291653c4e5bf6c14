/**
 * Support for the merge end-to-end tests: running programs, the registries under test (lading and
 * Debian's docker-registry, child processes on 127.0.0.1 stopped by their PIDs, started by
 * test/helpers/registries.ts), and the seed-000 images built offline with umoci.
 */
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { tagDescriptor, writeImageIndex, type Descriptor } from "../helpers/oci-layout.js";
import { startDockerRegistry as startReferenceRegistry, startLading } from "../helpers/registries.js";
import { addLayer, configure, initLayout, newImage } from "../helpers/umoci.js";

export async function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env: options.env ?? process.env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code: code ?? -1 });
    });
  });
}

/** Like run, but a non-zero exit is an error naming the command and its stderr. */
export async function must(command: string, args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const r = await run(command, args, options);
  if (r.code !== 0) throw new Error(`${command} ${args.join(" ")} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

export interface TestRegistry {
  /** host:port as used in references. */
  host: string;
  /** The storage root holding docker/registry/v2, for counting blobs; undefined when not known. */
  storage: string | undefined;
  stop(): Promise<void>;
}

/** docker-registry (test/helpers/registries.ts starts it: own config, REGISTRY_* variables dropped) on DIR/storage. */
export async function startDockerRegistry(dir: string): Promise<TestRegistry> {
  const storage = join(dir, "storage");
  await mkdir(storage, { recursive: true });
  const r = await startReferenceRegistry(storage, dir);
  return { host: r.host, storage, stop: () => r.stop() };
}

/** lading itself (`lading serve --listen 127.0.0.1:0`, port read from its "listening" log line) on DIR/lading-storage. */
export async function startLadingRegistry(dir: string): Promise<TestRegistry> {
  const storage = join(dir, "lading-storage");
  await mkdir(storage, { recursive: true });
  const r = await startLading(storage);
  return { host: r.host, storage, stop: () => r.stop() };
}

/**
 * Every blob file in a registry:2 storage tree: a merge that moves no bytes adds only config and
 * manifest. lading applies what it has answered to its tree just after answering, so the count is
 * taken once it holds still.
 */
export async function countBlobs(storage: string): Promise<number> {
  const root = join(storage, "docker/registry/v2/blobs/sha256");
  const count = async () => {
    let n = 0;
    for (const prefix of await readdir(root).catch(() => [])) n += (await readdir(join(root, prefix))).length;
    return n;
  };
  let last = await count();
  for (let still = 0; still < 3; ) {
    await new Promise((r) => setTimeout(r, 100));
    const now = await count();
    still = now === last ? still + 1 : 0;
    last = now;
  }
  return last;
}

const basePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

async function layer(layout: string, from: string, to: string, files: Record<string, string | null>, work: string): Promise<void> {
  const bundle = join(work, `bundle-${to}-${Date.now()}`);
  await must("umoci", ["unpack", "--rootless", "--image", `${layout}:${from}`, bundle]);
  for (const [path, contents] of Object.entries(files)) {
    const target = join(bundle, "rootfs", path);
    if (contents === null) await rm(target, { recursive: true, force: true });
    else {
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, contents);
    }
  }
  await must("umoci", ["repack", "--image", `${layout}:${to}`, bundle]);
  await rm(bundle, { recursive: true, force: true });
}

async function config(layout: string, tag: string, args: string[]): Promise<void> {
  await must("umoci", ["config", "--image", `${layout}:${tag}`, ...args]);
}

const dpkgStatus = (packages: string[]) => packages.map((p) => `Package: ${p}\nStatus: install ok installed\n`).join("\n");

/**
 * The seed-000 images: a base (one layer, PATH, a dpkg database), a maven-like section (one layer
 * adding files, ENV), a golang-like section (two layers, ENV and a PATH that prepends). Both sections
 * also rewrite the dpkg status file, the classic conflict.
 */
export async function buildSeedImages(work: string): Promise<string> {
  const layout = join(work, "layout");
  await must("umoci", ["init", "--layout", layout]);
  await must("umoci", ["new", "--image", `${layout}:empty`]);
  await layer(layout, "empty", "base", { "etc/os-release": "ID=lading-test\n", "var/lib/dpkg/status": dpkgStatus(["base-files"]), "usr/bin/base-tool": "#!/bin/sh\necho base\n" }, work);
  await config(layout, "base", ["--config.env", `PATH=${basePath}`, "--config.env", "LANG=C.UTF-8", "--config.cmd", "/bin/sh", "--config.label", "org.example.base=yes"]);

  await layer(layout, "base", "maven", { "usr/share/maven/bin/mvn": "#!/bin/sh\necho maven\n", "usr/share/maven/lib/maven-core.jar": "jar".repeat(1000), "var/lib/dpkg/status": dpkgStatus(["base-files", "openjdk"]) }, work);
  await config(layout, "maven", ["--config.env", "MAVEN_HOME=/usr/share/maven", "--config.env", `PATH=${basePath}:/usr/share/maven/bin`, "--config.label", "org.example.maven=3.9", "--config.exposedports", "8080/tcp"]);

  await layer(layout, "base", "golang", { "usr/local/go/bin/go": "#!/bin/sh\necho go\n", "var/lib/dpkg/status": dpkgStatus(["base-files", "gcc"]) }, work);
  await layer(layout, "golang", "golang", { "go/src/hello/main.go": "package main\nfunc main() {}\n" }, work);
  await config(layout, "golang", ["--config.env", "GOPATH=/go", "--config.env", `PATH=/go/bin:/usr/local/go/bin:${basePath}`, "--config.workingdir", "/go"]);
  return layout;
}

/** Pushes a layout tag to a registry with skopeo (plain HTTP, a private authfile so no stored credentials leak in). */
export async function pushImage(layout: string, tag: string, dest: string, authfile: string, format?: "v2s2"): Promise<void> {
  await writeFile(authfile, "{}");
  const args = ["copy", "--quiet", "--authfile", authfile, "--dest-tls-verify=false", ...(format ? ["--format", format] : []), `oci:${layout}:${tag}`, `docker://${dest}`];
  await must("skopeo", args);
}

export const platforms = ["amd64", "arm64"] as const;

/**
 * Multi-platform seed images: for each of amd64 and arm64 a base (one layer naming its arch), a
 * maven-like and a golang-like section built on it, then hand-written OCI indexes `base`, `maven`,
 * `golang` over the two (umoci makes single images only).
 */
export async function buildMultiPlatformImages(work: string): Promise<string> {
  const layout = join(work, "multi");
  await initLayout(layout);
  const byName: Record<string, Descriptor[]> = { base: [], maven: [], golang: [] };
  for (const arch of platforms) {
    await newImage(layout, `empty-${arch}`);
    await configure(layout, `empty-${arch}`, { architecture: arch, os: "linux" });
    await addLayer(layout, `empty-${arch}`, `base-${arch}`, { "etc/arch": `${arch}\n`, "usr/bin/base-tool": "#!/bin/sh\necho base\n" }, work);
    await configure(layout, `base-${arch}`, { env: [`PATH=${basePath}`, `BASE_ARCH=${arch}`] });
    await addLayer(layout, `base-${arch}`, `maven-${arch}`, { "usr/share/maven/arch.txt": `maven for ${arch}\n` }, work);
    await configure(layout, `maven-${arch}`, { env: ["MAVEN_HOME=/usr/share/maven"] });
    await addLayer(layout, `base-${arch}`, `golang-${arch}`, { "usr/local/go/arch.txt": `go for ${arch}\n` }, work);
    await configure(layout, `golang-${arch}`, { env: ["GOPATH=/go"] });
    for (const name of Object.keys(byName)) {
      const d = await tagDescriptor(layout, `${name}-${arch}`);
      byName[name]!.push({ mediaType: d.mediaType, digest: d.digest, size: d.size, platform: { architecture: arch, os: "linux" } });
    }
  }
  for (const [name, children] of Object.entries(byName)) await writeImageIndex(layout, name, children);
  return layout;
}

/** Pushes a layout's index tag with every platform (`skopeo copy --all`). */
export async function pushIndex(layout: string, tag: string, dest: string, authfile: string): Promise<void> {
  await must("skopeo", ["copy", "--quiet", "--all", "--authfile", authfile, "--dest-tls-verify=false", `oci:${layout}:${tag}`, `docker://${dest}`]);
}

const cliMain = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

/** Runs the built lading CLI. */
export const lading = (...args: string[]) => run(process.execPath, [cliMain, ...args]);

/** Runs the CLI expecting exit 0 and JSON on stdout. */
export async function ladingJson<T>(...args: string[]): Promise<T> {
  const r = await lading(...args, "--json");
  if (r.code !== 0) throw new Error(`lading ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** A registry with the seed-000 images pushed as REG/{base,maven,golang}:latest, and skopeo with a private authfile. */
export interface SeededRegistry {
  work: string;
  layout: string;
  reg: TestRegistry;
  ref(repo: string): string;
  skopeo(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export async function seededRegistry(label: string, start: (dir: string) => Promise<TestRegistry>): Promise<SeededRegistry> {
  const work = await mkdtemp(join(os.tmpdir(), `lading-${label}-`));
  const authfile = join(work, "auth.json");
  await writeFile(authfile, "{}");
  const layout = await buildSeedImages(work);
  const reg = await start(work);
  const ref = (repo: string) => `${reg.host}/${repo}`;
  for (const tag of ["base", "maven", "golang"]) await pushImage(layout, tag, ref(`${tag}:latest`), authfile);
  return {
    work,
    layout,
    reg,
    ref,
    skopeo: (...args: string[]) => must("skopeo", [args[0]!, "--authfile", authfile, ...args.slice(1)]),
    stop: async () => {
      await reg.stop();
      await rm(work, { recursive: true, force: true });
    },
  };
}
