/**
 * `node dist/test/with-daemons.js COMMAND [ARGS...]`: runs COMMAND (the node test runner, or
 * scripts/test.sh's passes of it one after another through ./in-sequence.ts) with one
 * dockerd, one containerd and one S3 gateway (Ceph) for the whole run, named to it by the variables
 * of ./helpers/run-daemons.ts, and stops them by their PIDs when COMMAND ends, however it ends (a
 * failure, a signal to this process). Exits with COMMAND's status; 128+n when signal n ended it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { constants } from "node:os";
import { join } from "node:path";
import { s3Variables, startCeph } from "./helpers/ceph.js";
import { startContainerd } from "./helpers/containerd.js";
import { startDockerd } from "./helpers/docker.js";
import { CONTAINERD_ADDRESS_VAR, DAEMONS_DIR_VAR, DOCKER_HOST_VAR, makeDaemonsDir, removeDaemonsDir } from "./helpers/run-daemons.js";

const HANDLED: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/** Handled from the start: a signal while the daemons start must still let them be stopped. */
let received: NodeJS.Signals | undefined;
let command: ChildProcess | undefined;
for (const signal of HANDLED) {
  process.on(signal, () => {
    received ??= signal;
    command?.kill(signal);
  });
}

async function main(argv: readonly string[]): Promise<number> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) {
    process.stderr.write("usage: node dist/test/with-daemons.js COMMAND [ARGS...]\n");
    return 2;
  }
  const dir = await makeDaemonsDir();
  const [docker, containerd, ceph] = await Promise.allSettled([
    startDockerd(join(dir, "docker")),
    startContainerd(join(dir, "containerd")),
    startCeph(join(dir, "ceph")),
  ]);
  try {
    if (docker.status === "rejected") throw docker.reason;
    if (containerd.status === "rejected") throw containerd.reason;
    if (ceph.status === "rejected") throw ceph.reason;
    if (received !== undefined) return exitStatus(null, received);
    const env = {
      ...process.env,
      [DAEMONS_DIR_VAR]: dir,
      [DOCKER_HOST_VAR]: docker.value.address,
      [CONTAINERD_ADDRESS_VAR]: containerd.value.address,
      ...s3Variables(ceph.value),
    };
    return await runToEnd(cmd, args, env);
  } finally {
    await stopAll([
      ...[docker, containerd].flatMap((s) => (s.status === "fulfilled" ? [s.value.daemon] : [])),
      ...(ceph.status === "fulfilled" ? [ceph.value] : []),
    ]);
    await removeDaemonsDir(dir).catch((err: unknown) => warn(`removing ${dir}: ${String(err)}`));
  }
}

/** Runs the command in the foreground (signals to this process are passed on); resolves with its status. */
function runToEnd(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    command = spawn(cmd, args, { stdio: "inherit", env });
    command.on("error", reject);
    command.on("exit", (code, signal) => resolve(exitStatus(code, signal)));
  });
}

function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? 128 + (signal === null ? 0 : constants.signals[signal]);
}

/** Stops every daemon, even when one fails to stop: the run's result stands either way. */
async function stopAll(daemons: readonly { stop(): Promise<void> }[]): Promise<void> {
  const results = await Promise.allSettled(daemons.map((d) => d.stop()));
  for (const r of results) if (r.status === "rejected") warn(`stopping a test daemon: ${String(r.reason)}`);
}

function warn(message: string): void {
  process.stderr.write(`with-daemons: ${message}\n`);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    warn(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);
