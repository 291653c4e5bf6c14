/**
 * Support for the merge end-to-end test: running programs, Debian's docker-registry as a child
 * process on 127.0.0.1 (stopped by its PID), and the seed-000 images built offline with umoci.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { dirname, join } from "node:path";

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

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface TestRegistry {
  /** host:port as used in references. */
  host: string;
  /** The storage root holding docker/registry/v2, for counting blobs; undefined when not known. */
  storage: string | undefined;
  stop(): Promise<void>;
}

/** docker-registry with a config of our own; REGISTRY_* variables are dropped (it reads them as overrides). */
export async function startDockerRegistry(dir: string): Promise<TestRegistry> {
  const storage = join(dir, "storage");
  await mkdir(storage, { recursive: true });
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config = join(dir, "registry.yml");
  const body = {
    version: 0.1,
    log: { level: "warn", accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: storage }, delete: { enabled: true }, maintenance: { uploadpurging: { enabled: false } } },
    http: { addr: host, secret: "merge-e2e" },
  };
  await writeFile(config, JSON.stringify(body));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("REGISTRY_")));
  const child: ChildProcess = spawn("docker-registry", ["serve", config], { stdio: "ignore", env });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGTERM");
    await exited;
  };
  for (let i = 0; i < 100; i++) {
    try {
      const res = await fetch(`http://${host}/v2/`);
      await res.arrayBuffer();
      if (res.status === 200) return { host, storage, stop };
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`docker-registry on ${host} did not start`);
}

/** Every blob file in a registry:2 storage tree: a merge that moves no bytes adds only config and manifest. */
export async function countBlobs(storage: string): Promise<number> {
  const root = join(storage, "docker/registry/v2/blobs/sha256");
  let n = 0;
  for (const prefix of await readdir(root).catch(() => [])) n += (await readdir(join(root, prefix))).length;
  return n;
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
