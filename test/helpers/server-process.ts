/**
 * A registry running as a child process: its output is kept (the last lines) so a failing test
 * can show what the server logged, and it is stopped by its own PID, SIGTERM first, then SIGKILL.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

const KEPT_LINES = 3000;

export interface ServerProcessOptions {
  name: string;
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** Output lines that report a fault of the server; all of them are kept, however long the run. */
  isFault?: (line: string) => boolean;
}

export class ServerProcess {
  private readonly lines: string[] = [];
  /** Every output line `isFault` accepted. */
  readonly faults: string[] = [];
  private readonly lineListeners = new Set<(line: string) => void>();
  private readonly exited: Promise<void>;
  private exitStatus: string | undefined;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    private readonly isFault: (line: string) => boolean,
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
    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue;
      createInterface({ input: stream }).on("line", (line) => this.record(line));
    }
  }

  static spawn(options: ServerProcessOptions): ServerProcess {
    const child = spawn(options.command, options.args, {
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    return new ServerProcess(options.name, child, options.isFault ?? (() => false));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Undefined while running; otherwise how the process ended. */
  get exitedWith(): string | undefined {
    return this.exitStatus;
  }

  /** The output kept so far (stdout and stderr interleaved by arrival), for failure messages. */
  logs(): string {
    return this.lines.join("\n");
  }

  /** Resolves with the first output line `match` accepts; rejects if the process ends or time runs out. */
  waitForLine(match: (line: string) => boolean, timeoutMs: number): Promise<string> {
    const seen = this.lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.lineListeners.delete(listener);
      };
      const listener = (line: string): void => {
        if (!match(line)) return;
        done();
        resolve(line);
      };
      const timer = setTimeout(() => {
        done();
        reject(this.failure(`did not become ready within ${timeoutMs} ms`));
      }, timeoutMs);
      this.lineListeners.add(listener);
      void this.exited.then(() => {
        done();
        reject(this.failure(`exited before it was ready (${this.exitStatus ?? "?"})`));
      });
    });
  }

  /** An error naming this server, with its recent output attached. */
  failure(what: string): Error {
    return new Error(`${this.name} (pid ${this.pid ?? "?"}) ${what}\n--- ${this.name} output ---\n${tailLines(this.logs(), 60)}`);
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`; resolves once it has exited. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.exitStatus !== undefined || this.child.pid === undefined) return;
    this.child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        if (this.exitStatus === undefined) this.child.kill("SIGKILL");
        resolve();
      }, graceMs);
    });
    await Promise.race([this.exited, killed]);
    await this.exited;
    clearTimeout(timer);
  }

  private record(line: string): void {
    this.lines.push(line);
    if (this.isFault(line)) this.faults.push(line);
    if (this.lines.length > KEPT_LINES) this.lines.splice(0, this.lines.length - KEPT_LINES);
    for (const listener of [...this.lineListeners]) listener(line);
  }
}

/**
 * Wraps a test body so that a failure carries the recent output of the servers involved: when a
 * real client is refused, the server's log says why.
 */
export function withServerLogs(servers: () => readonly (ServerProcess | undefined)[], body: () => Promise<void>): () => Promise<void> {
  return async () => {
    try {
      await body();
    } catch (err) {
      if (err instanceof Error) {
        const logs = servers()
          .filter((s): s is ServerProcess => s !== undefined)
          .map((s) => `--- ${s.name} (pid ${s.pid ?? "?"}) output ---\n${tailLines(s.logs(), 40)}`);
        const attached = `\n${logs.join("\n")}`;
        // Reporters print the stack, captured with the original message: extend both.
        err.message += attached;
        if (err.stack !== undefined) err.stack += attached;
      }
      throw err;
    }
  };
}

export function tailLines(text: string, n: number): string {
  const lines = text.split("\n");
  return lines.length <= n ? text : ["...", ...lines.slice(-n)].join("\n");
}
