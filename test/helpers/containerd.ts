/**
 * containerd for end-to-end tests, driven with `ctr`: a private daemon (not dockerd's own), every
 * path under one folder, without the CRI plugin (Kubernetes', which wants a CNI setup). Each test
 * file works in a containerd namespace of its own, and content is not shared across namespaces,
 * so a blob pulled by an earlier file is fetched again rather than found. ctr keeps no
 * credentials: they go with each pull or push (`--user user:password`).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DaemonProcess } from "./daemon-process.js";
import { run, type RunOptions, type RunResult } from "./exec.js";
import { runForStatus, type StatusResult } from "./exec-status.js";
import { CONTAINERD_ADDRESS_VAR, runOrPrivateDaemon, type StartedDaemon } from "./run-daemons.js";

const READY_TIMEOUT_MS = 30_000;

export interface CtrOptions {
  input?: string | Buffer;
  timeoutMs?: number;
}

export interface Credentials {
  user: string;
  password: string;
}

export interface TransferOptions {
  credentials?: Credentials;
  /** More `ctr images pull|push` flags, e.g. --all-platforms. */
  extra?: readonly string[];
}

export class Containerd {
  constructor(
    /** The daemon's socket path. */
    readonly address: string,
    readonly namespace: string,
  ) {}

  /** `ctr -a ADDRESS -n NAMESPACE args`; a non-zero exit is returned, not thrown. */
  ctr(args: readonly string[], options: CtrOptions = {}): Promise<StatusResult> {
    return runForStatus("ctr", this.ctrArgs(args), runOptions(options));
  }

  /** The same; rejects with a CommandError (stderr included) unless ctr exits 0. */
  ctrOk(args: readonly string[], options: CtrOptions = {}): Promise<RunResult> {
    return run("ctr", this.ctrArgs(args), runOptions(options));
  }

  /** Pulls (and unpacks) `ref` over plain HTTP. */
  async pull(ref: string, options: TransferOptions = {}): Promise<void> {
    await this.ctrOk(["images", "pull", "--plain-http", ...transferFlags(options), ref]);
  }

  /** Pushes the local image `local` (default: `remote` itself) to `remote` over plain HTTP. */
  async push(remote: string, options: TransferOptions & { local?: string } = {}): Promise<void> {
    await this.ctrOk(["images", "push", "--plain-http", ...transferFlags(options), remote, ...(options.local === undefined ? [] : [options.local])]);
  }

  async tag(source: string, target: string): Promise<void> {
    await this.ctrOk(["images", "tag", source, target]);
  }

  /** The manifest (or index) digest of a local image. */
  async digest(ref: string): Promise<string> {
    const { stdout } = await this.ctrOk(["images", "list", `name==${ref}`]);
    const digest = /\bsha256:[0-9a-f]{64}\b/.exec(stdout)?.[0];
    if (digest === undefined) throw new Error(`ctr lists no image ${ref}:\n${stdout}`);
    return digest;
  }

  private ctrArgs(args: readonly string[]): string[] {
    return ["--address", this.address, "--namespace", this.namespace, ...args];
  }
}

/**
 * containerd for this test file: the run's daemon, or a private one (see runOrPrivateDaemon: call
 * at the top level of the test file), in a namespace no other test file uses.
 */
export async function useContainerd(): Promise<Containerd> {
  const { address } = await runOrPrivateDaemon(CONTAINERD_ADDRESS_VAR, startContainerd);
  return new Containerd(address, `e2e-${process.pid}`);
}

/** Starts containerd with everything under `dir`; resolves once `ctr version` reaches it. */
export async function startContainerd(dir: string): Promise<StartedDaemon> {
  await mkdir(dir, { recursive: true });
  const config = join(dir, "config.toml");
  await writeFile(config, containerdConfig(dir));
  const address = join(dir, "containerd.sock");
  const daemon = DaemonProcess.spawn({
    name: "containerd",
    command: "containerd",
    args: ["--config", config, "--root", join(dir, "root"), "--state", join(dir, "state"), "--address", address],
    logFile: join(dir, "containerd.log"),
  });
  try {
    await daemon.waitUntil(async () => (await runForStatus("ctr", ["--address", address, "version"], { timeoutMs: 10_000 })).code === 0, READY_TIMEOUT_MS);
  } catch (err) {
    await daemon.stop();
    throw err;
  }
  return { daemon, address };
}

function containerdConfig(dir: string): string {
  // JSON strings are TOML basic strings, whatever the path holds.
  return `version = 2
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[plugins."io.containerd.metadata.v1.bolt"]
  content_sharing_policy = "isolated"

[plugins."io.containerd.internal.v1.opt"]
  path = ${JSON.stringify(join(dir, "opt"))}
`;
}

function transferFlags(options: TransferOptions): string[] {
  const user = options.credentials === undefined ? [] : ["--user", `${options.credentials.user}:${options.credentials.password}`];
  return [...user, ...(options.extra ?? [])];
}

function runOptions(options: CtrOptions): RunOptions {
  return {
    ...(options.input === undefined ? {} : { input: options.input }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  };
}
