/**
 * Running external programs (skopeo, umoci, podman) from tests. A failure names the command line,
 * the exit status and the program's stderr, so a red test says what the tool complained about.
 */
import { spawn, spawnSync } from "node:child_process";

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Bytes written to the program's stdin, which is otherwise closed at once. */
  input?: Buffer | string;
  /** Kill the program (SIGKILL) after this long; a hung client must not hang the suite. */
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  /** stdout exactly as produced, for output that is hashed or parsed as bytes. */
  raw: Buffer;
}

/** Thrown when a program exits non-zero, is killed, or cannot be started. */
export class CommandError extends Error {
  constructor(
    readonly command: readonly string[],
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stdout: string,
    readonly stderr: string,
    options?: ErrorOptions,
  ) {
    const status = signal !== null ? `killed by ${signal}` : `exit code ${exitCode ?? "?"}`;
    const detail = [stderr.trim() && `stderr:\n${indent(tail(stderr.trim()))}`, stdout.trim() && `stdout:\n${indent(tail(stdout.trim()))}`]
      .filter(Boolean)
      .join("\n");
    super(`\`${command.map(quote).join(" ")}\` failed (${status})${detail ? `\n${detail}` : ""}`, options);
    this.name = "CommandError";
  }
}

const DEFAULT_TIMEOUT_MS = 90_000;

/** Runs a program to completion and returns its output; rejects with a CommandError on failure. */
export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const command = [cmd, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let killedForTime = false;
    const timer = setTimeout(() => {
      killedForTime = true;
      child.kill("SIGKILL");
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (cause) => {
      clearTimeout(timer);
      reject(new CommandError(command, null, null, "", `cannot start ${cmd}: ${cause.message}`, { cause }));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const raw = Buffer.concat(out);
      const stdout = raw.toString("utf8");
      let stderr = Buffer.concat(err).toString("utf8");
      if (killedForTime) stderr += `\n(timed out after ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms)`;
      if (code === 0) resolve({ stdout, stderr, raw });
      else reject(new CommandError(command, code, signal, stdout, stderr));
    });
    child.stdin.on("error", () => {}); // a program that exits without reading its input is not our failure
    child.stdin.end(options.input ?? "");
  });
}

/**
 * Fails loudly when a program the end-to-end tests drive is not installed: these tests never skip
 * (scripts/install-test-deps.sh installs the packages before the suite runs).
 */
export function requireTools(...names: string[]): void {
  const missing = names.filter((name) => spawnSync("sh", ["-c", 'command -v "$1"', "sh", name]).status !== 0);
  if (missing.length > 0) {
    throw new Error(`required program(s) not installed: ${missing.join(", ")} (run scripts/install-test-deps.sh as root)`);
  }
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

function indent(text: string): string {
  return text.replace(/^/gm, "  ");
}

/** The end of a long output: what a tool printed last is what explains its failure. */
function tail(text: string, max = 4000): string {
  return text.length <= max ? text : `...${text.slice(-max)}`;
}
