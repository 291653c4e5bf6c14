/**
 * `node dist/test/in-sequence.js CMD [ARGS...] [--- CMD [ARGS...]]...`: runs the commands one
 * after another, each to its end (a failing one does not skip the next), for scripts/test.sh to
 * run several passes of the test runner under one ../with-daemons.ts, so that the daemons start
 * once per run. SIGINT, SIGTERM and SIGHUP are passed on to the command running, and no command
 * starts after one. Exits with the first non-zero status, 0 when every command succeeded.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { constants } from "node:os";

const SEPARATOR = "---";
const HANDLED: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

let received: NodeJS.Signals | undefined;
let running: ChildProcess | undefined;
for (const signal of HANDLED) {
  process.on(signal, () => {
    received ??= signal;
    running?.kill(signal);
  });
}

function commands(argv: readonly string[]): string[][] {
  const groups: string[][] = [[]];
  for (const arg of argv) {
    if (arg === SEPARATOR) groups.push([]);
    else groups.at(-1)!.push(arg);
  }
  return groups;
}

function run(cmd: string, args: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    running = spawn(cmd, args, { stdio: "inherit" });
    running.on("error", reject);
    running.on("exit", (code, signal) => resolve(code ?? 128 + (signal === null ? 0 : constants.signals[signal])));
  });
}

async function main(argv: readonly string[]): Promise<number> {
  const groups = commands(argv);
  if (groups.some((g) => g.length === 0)) {
    process.stderr.write(`usage: node dist/test/in-sequence.js CMD [ARGS...] [${SEPARATOR} CMD [ARGS...]]...\n`);
    return 2;
  }
  let status = 0;
  for (const [cmd, ...args] of groups) {
    if (received !== undefined) return status || 128 + constants.signals[received];
    const code = await run(cmd!, args);
    if (status === 0) status = code;
  }
  return status;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`in-sequence: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
