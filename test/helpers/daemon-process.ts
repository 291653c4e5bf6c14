/**
 * A long-lived daemon the end-to-end tests drive (dockerd, containerd). Unlike ./server-process.ts,
 * its output goes to a log file, not a pipe: when one daemon serves a whole test run, every test
 * process can read why it refused something. It runs in a session of its own (detached), so a
 * Ctrl-C reaches the test runner and not the daemon, which is stopped only by its own PID:
 * SIGTERM, then SIGKILL after a grace period.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tailLines } from "./server-process.js";

const POLL_MS = 100;

export interface DaemonOptions {
  name: string;
  command: string;
  args: readonly string[];
  /** Appended to, stdout and stderr together. */
  logFile: string;
  env?: NodeJS.ProcessEnv;
}

export class DaemonProcess {
  private exitStatus: string | undefined;
  private readonly exited: Promise<void>;
  private readonly lastResort = (): void => this.signal("SIGTERM");

  private constructor(
    readonly name: string,
    readonly logFile: string,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => {
      child.on("exit", (code, signal) => {
        this.exitStatus = signal !== null ? `killed by ${signal}` : `exit code ${code ?? "?"}`;
        resolve();
      });
      child.on("error", (err) => {
        this.exitStatus = `cannot start: ${err.message}`;
        resolve();
      });
    });
    // A test process that dies without running its hooks still asks the daemon to shut itself down;
    // SIGTERM is the one thing that can be done synchronously on the way out.
    process.on("exit", this.lastResort);
  }

  static spawn(options: DaemonOptions): DaemonProcess {
    const log = openSync(options.logFile, "a");
    try {
      const child = spawn(options.command, options.args, {
        env: options.env ?? process.env,
        stdio: ["ignore", log, log],
        detached: true,
      });
      return new DaemonProcess(options.name, options.logFile, child);
    } finally {
      closeSync(log); // the child holds its own copy
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Undefined while running; otherwise how the process ended. */
  get exitedWith(): string | undefined {
    return this.exitStatus;
  }

  /** Polls `answers` until it resolves true; fails early, with the log, if the daemon exits. */
  async waitUntil(answers: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exitStatus !== undefined) throw await this.failure(`exited before it answered (${this.exitStatus})`);
      if (await answers()) return;
      if (Date.now() > deadline) throw await this.failure(`did not answer within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** An error naming this daemon, with the end of its log attached. */
  async failure(what: string): Promise<Error> {
    const log = await readFile(this.logFile, "utf8").catch((err: unknown) => `(cannot read ${this.logFile}: ${String(err)})`);
    return new Error(`${this.name} (pid ${this.pid ?? "?"}) ${what}\n--- ${this.logFile} ---\n${tailLines(log.trimEnd(), 40)}`);
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`; resolves once it has exited. */
  async stop(graceMs = 10_000): Promise<void> {
    process.off("exit", this.lastResort);
    if (this.exitStatus !== undefined || this.child.pid === undefined) return;
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.signal("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  private signal(signal: NodeJS.Signals): void {
    if (this.exitStatus === undefined) this.child.kill(signal);
  }
}
