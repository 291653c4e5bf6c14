/**
 * Registries for end-to-end tests, each a child process on 127.0.0.1: lading itself (port 0, the
 * address read from its "listening" log line) and Debian's docker-registry, the reference
 * implementation, on a free port with a config of our own.
 */
import { writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { run, type RunResult } from "./exec.js";
import { ServerProcess } from "./server-process.js";

export interface RunningRegistry {
  /** "lading" or "docker-registry". */
  readonly kind: string;
  /** host:port, as it appears in image references (127.0.0.1:PORT/repo:tag). */
  readonly host: string;
  /** http://host:port */
  readonly url: string;
  /** The storage root (the directory holding docker/registry/v2). */
  readonly storage: string;
  readonly process: ServerProcess;
  /** Stops the server by its PID and waits for it to exit. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 20_000;

/** dist/test/helpers/registries.js → dist/src/cli/main.js */
const LADING_MAIN = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

/** Starts lading on port 0 with only the settings given here: LADING_* variables (config overrides) are removed. */
export async function startLading(storage: string, extraArgs: readonly string[] = []): Promise<RunningRegistry> {
  const proc = ServerProcess.spawn({
    name: "lading",
    command: process.execPath,
    args: [LADING_MAIN, "serve", "--listen", "127.0.0.1:0", "--storage", storage, ...extraArgs],
    env: withoutPrefix("LADING_"),
    isFault: isLadingFault,
  });
  const line = await proc.waitForLine((l) => l.includes('"msg":"listening"'), READY_TIMEOUT_MS).catch(async (err: unknown) => {
    await proc.stop();
    throw err;
  });
  const parsed = JSON.parse(line) as { addr?: unknown; url?: unknown };
  if (typeof parsed.addr !== "string" || typeof parsed.url !== "string") {
    await proc.stop();
    throw proc.failure(`logged a "listening" line without addr and url: ${line}`);
  }
  return registry("lading", parsed.addr, parsed.url.replace(/\/$/, ""), storage, proc);
}

/**
 * Starts docker-registry on `storage` with delete enabled and upload purging off (it would
 * otherwise remove upload folders it did not write). Every REGISTRY_* variable is removed from
 * its environment: it reads them as config overrides (REGISTRY_AUTH_FILE alone crashes it).
 */
export async function startDockerRegistry(storage: string, configDir: string, extra: Record<string, unknown> = {}): Promise<RunningRegistry> {
  let lastError: unknown;
  // A port found free can be taken before the registry binds it: try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const config = join(configDir, `docker-registry-${port}.yml`);
    await writeFile(config, dockerRegistryConfig(storage, host, extra));
    const proc = ServerProcess.spawn({ name: "docker-registry", command: "docker-registry", args: ["serve", config], env: withoutPrefix("REGISTRY_") });
    try {
      await waitForHttp(`http://${host}/v2/`, proc);
      return registry("docker-registry", host, `http://${host}`, storage, proc);
    } catch (err) {
      lastError = err;
      await proc.stop();
    }
  }
  throw lastError;
}

/**
 * Runs docker-registry's offline garbage collector over `storage` (no server may be running on
 * it): it walks every repository's links and manifests, so it fails on a layout it cannot read.
 */
export async function dockerRegistryGarbageCollect(storage: string, configDir: string, flags: readonly string[] = []): Promise<RunResult> {
  const config = join(configDir, "docker-registry-gc.yml");
  await writeFile(config, dockerRegistryConfig(storage, "127.0.0.1:0"));
  return run("docker-registry", ["garbage-collect", ...flags, config], { env: withoutPrefix("REGISTRY_") });
}

/** `extra`: more top-level sections (notifications, proxy). */
function dockerRegistryConfig(storage: string, host: string, extra: Record<string, unknown> = {}): string {
  // JSON is YAML: no quoting rules to get wrong for odd paths.
  const config = {
    version: 0.1,
    log: { level: "info", accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: storage },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: { addr: host, secret: "lading-e2e-not-a-secret" },
    ...extra,
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** A 5xx answer, or a log entry at error level or above (pino: 50 error, 60 fatal). */
function isLadingFault(line: string): boolean {
  return /"status":5\d\d\b/.test(line) || /"level":[56]\d\b/.test(line);
}

function withoutPrefix(prefix: string): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith(prefix)));
}

function registry(kind: string, host: string, url: string, storage: string, proc: ServerProcess): RunningRegistry {
  return { kind, host, url, storage, process: proc, stop: () => proc.stop() };
}

/** A port nothing listens on now (another process may still take it before it is used). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no port assigned"))));
    });
  });
}

/** Polls until `url` answers 200, failing early if the process exits. */
export async function waitForHttp(url: string, proc: ServerProcess): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (proc.exitedWith !== undefined) throw proc.failure(`exited before it was ready (${proc.exitedWith})`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw proc.failure(`did not answer ${url} within ${READY_TIMEOUT_MS} ms`);
}
