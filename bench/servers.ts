/**
 * The two registries under test, each a child process on 127.0.0.1, on fresh storage (a directory,
 * or a bucket of the run's S3 gateway), started and stopped by PID. lading runs from this
 * checkout's dist/ with its access log off; the reference is Debian's docker-registry with a config
 * of our own (./server-config.ts). Either may run with access control (an htpasswd file; lading
 * also as its own token service).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { mkdir, readdir, rm, stat, writeFile } from "node:fs/promises";
import http from "node:http";
import { createServer } from "node:net";
import { join } from "node:path";
import { stringify } from "yaml";
import { ladingArgs, ladingConfig, onFilesystem, referenceConfig, serverEnv, type ServerStorage } from "./server-config.js";

export type RegistryKind = "lading" | "reference";
export const registryKinds: readonly RegistryKind[] = ["lading", "reference"];

export const referenceBinary = "/usr/bin/docker-registry";

export interface Server {
  kind: RegistryKind;
  /** host:port, as in image references. */
  host: string;
  /** http://host:port */
  url: string;
  pid: number;
  /** Its directory's storage folder (unused on S3). */
  storage: string;
  /**
   * Stops the process by its PID and frees the space its big files take (all kept, with the log, on
   * `keep`). The directory itself goes with the run's work directory at the end: deleting thousands
   * of small files between servers would make the next server pay for them (ext4 scans recently
   * freed inodes at every allocation for minutes afterwards), whichever registry it is.
   */
  stop(keep?: boolean): Promise<void>;
  /** The last lines the server wrote, for error messages. */
  logTail(): string;
}

/** Access control for a server: its users, and how clients sign in. */
export interface ServerAccess {
  /** The htpasswd file's text (bcrypt entries), the same for both registries. */
  htpasswd: string;
  /** basic: credentials with every request; token: lading issues bearer tokens at /token (lading only). */
  mode: "basic" | "token";
  /** lading's policy (lading.auth.rules); the reference has none (every signed-in user may do everything). */
  rules?: unknown[];
}

const realm = "lading-bench";

/** PIDs of servers this process started and has not seen exit. */
const live = new Set<number>();

/** Kills, by PID, every server still running (on SIGINT or a crash of the harness). */
export function killLiveServers(): void {
  for (const pid of live) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  live.clear();
}

export async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, "127.0.0.1");
  await once(probe, "listening");
  const address = probe.address();
  probe.close();
  if (address === null || typeof address === "string") throw new Error("cannot find a free port");
  return address.port;
}

/** How a server starts, beyond its kind: all optional. */
export interface StartOptions {
  access?: ServerAccess;
  /** Where it stores (a fresh directory by default). */
  storage?: ServerStorage;
  /** Writes into the fresh storage directory what the server must hold before it starts. */
  prepare?: (storage: string) => Promise<void>;
  /** More config keys (lading's under `lading:`, the reference's own), e.g. the upstream a mirror fetches from. */
  config?: Record<string, unknown>;
}

/**
 * Starts `kind` in a fresh directory under `workDir` (its storage there, or on `options.storage`)
 * and waits until GET /v2/ answers 200 (401 with access control: it then challenges the anonymous).
 */
export async function startServer(kind: RegistryKind, workDir: string, repoRoot: string, options: StartOptions = {}): Promise<Server> {
  const { access, storage: store = onFilesystem, prepare, config: extraConfig = {} } = options;
  const dir = join(workDir, `${kind}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`);
  const storage = join(dir, "storage");
  await mkdir(storage, { recursive: true });
  await prepare?.(storage);
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config = join(dir, "config.yml");
  const logPath = join(dir, "server.log");
  if (access?.mode === "token" && kind === "reference") throw new Error("the reference issues no tokens of its own (it needs an external token server)");
  const htpasswd = join(dir, "htpasswd");
  if (access !== undefined) await writeFile(htpasswd, access.htpasswd);
  const auth = access === undefined ? {} : { auth: { htpasswd: { realm, path: htpasswd }, ...(access.mode === "token" ? { token: {} } : {}) } };
  let command: string;
  let args: string[];
  if (kind === "lading") {
    const lading = { ...(extraConfig.lading as object | undefined), ...(access?.rules === undefined ? {} : { auth: { rules: access.rules } }) };
    await writeFile(config, stringify(ladingConfig(store, { ...extraConfig, ...auth, lading })));
    command = process.execPath;
    const launcher = join(repoRoot, "dist/src/cli/main.js");
    args = [...launcherNodeFlags(launcher), launcher, ...ladingArgs(host, storage, config, store)];
  } else {
    await writeFile(config, stringify(referenceConfig(store, storage, host, { ...extraConfig, ...auth })));
    command = referenceBinary;
    args = ["serve", config];
  }
  const logFd = openSync(logPath, "a");
  let child: ChildProcess;
  try {
    child = spawn(command, args, { env: serverEnv(), stdio: ["ignore", logFd, logFd] });
  } finally {
    closeSync(logFd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${command}`);
  live.add(pid);
  let gone = false;
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      gone = true;
      live.delete(pid);
      resolve();
    }),
  );
  const logTail = () => (existsSync(logPath) ? readFileSync(logPath, "utf8").trim().split("\n").slice(-15).join("\n") : "");

  const stop = async (keep = false): Promise<void> => {
    if (!gone) {
      process.kill(pid, "SIGTERM");
      const timer = setTimeout(() => {
        if (!gone) process.kill(pid, "SIGKILL");
      }, 10_000);
      await exited;
      clearTimeout(timer);
    }
    if (!keep) await removeBigFiles(dir);
  };

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (gone) throw new Error(`${kind} exited during start-up; its log (${logPath}):\n${logTail()}`);
    if (await answers(`http://${host}/v2/`, access === undefined ? 200 : 401)) break;
    if (Date.now() > deadline) {
      await stop(true);
      throw new Error(`${kind} did not answer on ${host} within 20 s; its log (${logPath}):\n${logTail()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { kind, host, url: `http://${host}`, pid, storage, stop, logTail };
}

function answers(url: string, status: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === status);
    });
    req.once("error", () => resolve(false));
    req.setTimeout(1000, () => req.destroy());
  });
}

/** The reference registry's version line, for the report. */
export async function referenceVersion(): Promise<string> {
  const child = spawn(referenceBinary, ["--version"], { stdio: ["ignore", "pipe", "ignore"] });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  await once(child, "exit");
  return out.trim();
}

/** Deletes the files of 1 MiB or more under `dir`: their space back, without freeing many inodes. */
async function removeBigFiles(dir: string): Promise<void> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    if ((await stat(path)).size >= 1 << 20) await rm(path, { force: true });
  }
}

/** The Node flags of the launcher's first line (`#!/usr/bin/env -S node FLAGS`): lading runs as users start it. */
function launcherNodeFlags(launcher: string): string[] {
  const first = readFileSync(launcher, "utf8").split("\n", 1)[0]!;
  const words = first.replace(/^#!\S*\s*/, "").split(/\s+/);
  return words.slice(words.indexOf("node") + 1);
}
