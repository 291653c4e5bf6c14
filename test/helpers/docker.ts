/**
 * The Docker engine for end-to-end tests: Debian's dockerd, started by hand as root with no
 * network of its own (no bridge, no iptables), vfs storage and every path under one folder
 * (../../shared/notes/real-clients.md). It treats 127.0.0.0/8 as an insecure registry by default,
 * so it pushes and pulls over plain HTTP to a registry on 127.0.0.1 at any port.
 *
 * The client is /usr/bin/docker (another docker client may come first on PATH), with DOCKER_HOST
 * set and DOCKER_CONFIG given per call: credentials stored by `docker login` live in the client's
 * config folder, never in the daemon, so one folder per test keeps one test's logins from another.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after } from "node:test";
import { busyboxRootfsTar } from "./busybox-rootfs.js";
import { DaemonProcess } from "./daemon-process.js";
import { run, type RunOptions, type RunResult } from "./exec.js";
import { runForStatus, type StatusResult } from "./exec-status.js";
import { DOCKER_HOST_VAR, runOrPrivateDaemon, type StartedDaemon } from "./run-daemons.js";

export const DOCKER = "/usr/bin/docker";
const READY_TIMEOUT_MS = 30_000;
/** What `docker run` searches when a Dockerfile or command names a bare program. */
const IMAGE_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface DockerOptions {
  /** DOCKER_CONFIG: the client's folder, where `docker login` stores credentials. One per test. */
  config: string;
  /** Bytes on stdin (`docker login --password-stdin`, `docker import -`). */
  input?: string | Buffer;
  /** Extra variables, e.g. DOCKER_BUILDKIT. */
  env?: Readonly<Record<string, string>>;
  timeoutMs?: number;
}

export type Builder = "legacy" | "buildkit";

export class DockerEngine {
  /**
   * @param host DOCKER_HOST of the daemon (unix:///.../docker.sock)
   * @param neutralConfig a client folder no test logs in with, for commands that reach no registry
   */
  constructor(
    readonly host: string,
    private readonly neutralConfig: string,
  ) {}

  /** Runs the docker client; a non-zero exit is returned, not thrown (refusals are under test too). */
  docker(args: readonly string[], options: DockerOptions): Promise<StatusResult> {
    return runForStatus(DOCKER, args, this.runOptions(options));
  }

  /** Runs the docker client; rejects with a CommandError (stderr included) unless it exits 0. */
  dockerOk(args: readonly string[], options: DockerOptions): Promise<RunResult> {
    return run(DOCKER, args, this.runOptions(options));
  }

  /** Imports the busybox root filesystem as image `tag` (CMD sh); returns the image ID. */
  async importBusybox(tag: string): Promise<string> {
    const args = ["import", "--change", `ENV ${IMAGE_PATH}`, "--change", 'CMD ["/bin/sh"]', "-", tag];
    const { stdout } = await this.dockerOk(args, { config: this.neutralConfig, input: await busyboxRootfsTar() });
    return stdout.trim();
  }

  /**
   * `docker build -t tag context` with no network (the daemon has no bridge; BuildKit fails
   * without `--network none`). `config` is needed when the FROM image is in a registry that asks
   * for credentials.
   */
  async build(context: string, tag: string, options: { builder: Builder; config?: string; args?: readonly string[] }): Promise<void> {
    const env = { DOCKER_BUILDKIT: options.builder === "buildkit" ? "1" : "0" };
    const args = ["build", "--network", "none", ...(options.args ?? []), "-t", tag, context];
    await this.dockerOk(args, { config: options.config ?? this.neutralConfig, env });
  }

  /**
   * Runs `body` with `settings` in the daemon's settings file, reloaded by SIGHUP (dockerd reloads
   * registry-mirrors and insecure-registries so), then empties them and reloads again.
   * The daemon's files are beside its socket (startDockerd).
   */
  async withSettings<T>(settings: { "registry-mirrors"?: string[]; "insecure-registries"?: string[] }, body: () => Promise<T>): Promise<T> {
    const dir = dirname(this.host.replace(/^unix:\/\//, ""));
    const pid = Number((await readFile(join(dir, "dockerd.pid"), "utf8")).trim());
    const mirrors = async () => (await this.dockerOk(["info", "--format", "{{json .RegistryConfig.Mirrors}}"], { config: this.neutralConfig })).stdout.trim();
    const reload = async (content: unknown, want: (m: string) => boolean) => {
      await writeFile(join(dir, "daemon.json"), `${JSON.stringify(content)}\n`);
      process.kill(pid, "SIGHUP");
      for (let i = 0; !want(await mirrors()); i++) {
        if (i === 100) throw new Error(`dockerd did not reload ${JSON.stringify(content)}: its mirrors are ${await mirrors()}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    const wanted = settings["registry-mirrors"] ?? [];
    await reload(settings, (m) => wanted.every((w) => m.includes(w.replace(/\/$/, ""))));
    try {
      return await body();
    } finally {
      // Keys left out keep their values across a reload: they are emptied.
      await reload({ "registry-mirrors": [], "insecure-registries": [] }, (m) => m === "null" || m === "[]");
    }
  }

  /** Removes every container, image and build cache entry: the daemon as a new one. */
  async reset(): Promise<void> {
    const options = { config: this.neutralConfig };
    const containers = (await this.dockerOk(["ps", "--all", "--quiet"], options)).stdout.split(/\s+/).filter(Boolean);
    if (containers.length > 0) await this.dockerOk(["rm", "--force", ...containers], options);
    await this.dockerOk(["system", "prune", "--all", "--force", "--volumes"], options);
  }

  private runOptions(options: DockerOptions): RunOptions {
    return {
      env: { ...clientEnv(this.host, options.config), ...options.env },
      ...(options.input === undefined ? {} : { input: options.input }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    };
  }
}

/**
 * The engine for this test file: the run's dockerd (emptied first, so no image or layer of an
 * earlier file changes what a pull fetches — test files run one at a time), or a private one.
 * Call at the top level of the test file (see runOrPrivateDaemon).
 */
export async function useDockerEngine(): Promise<DockerEngine> {
  const { address, shared } = await runOrPrivateDaemon(DOCKER_HOST_VAR, startDockerd);
  const neutralConfig = await mkdtemp(join(tmpdir(), "lading-docker-client-"));
  after(() => rm(neutralConfig, { recursive: true, force: true }));
  const engine = new DockerEngine(address, neutralConfig);
  if (shared) await engine.reset();
  return engine;
}

/** Starts dockerd with everything under `dir`; resolves once `docker version` reaches it. */
export async function startDockerd(dir: string): Promise<StartedDaemon> {
  await mkdir(join(dir, "data"), { recursive: true });
  await mkdir(join(dir, "exec"), { recursive: true });
  // Its own (empty) settings file: never the machine's /etc/docker/daemon.json.
  await writeFile(join(dir, "daemon.json"), "{}\n");
  const address = `unix://${join(dir, "docker.sock")}`;
  const daemon = DaemonProcess.spawn({
    name: "dockerd",
    command: "dockerd",
    args: [
      "--config-file", join(dir, "daemon.json"),
      "--iptables=false", "--ip-masq=false", "--bridge=none", "--storage-driver=vfs",
      "--data-root", join(dir, "data"),
      "--exec-root", join(dir, "exec"),
      "--pidfile", join(dir, "dockerd.pid"),
      "-H", address,
    ],
    logFile: join(dir, "dockerd.log"),
    env: withoutDockerVariables(),
  });
  const probeEnv = clientEnv(address, join(dir, "probe-client"));
  try {
    await daemon.waitUntil(async () => (await runForStatus(DOCKER, ["version"], { env: probeEnv, timeoutMs: 10_000 })).code === 0, READY_TIMEOUT_MS);
  } catch (err) {
    await daemon.stop();
    throw err;
  }
  return { daemon, address };
}

function clientEnv(host: string, config: string): NodeJS.ProcessEnv {
  return { ...withoutDockerVariables(), DOCKER_HOST: host, DOCKER_CONFIG: config };
}

/** The environment without DOCKER_* (DOCKER_CONTEXT, DOCKER_TLS_VERIFY... would redirect the client). */
function withoutDockerVariables(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("DOCKER_")));
}
