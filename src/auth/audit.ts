import { createWriteStream, type WriteStream } from "node:fs";
import type { Logger } from "pino";

/** One audited event; secrets (passwords, tokens) never appear in one. */
export interface AuditEvent {
  event: "login" | "push" | "delete" | "token" | "denied" | "auth-failure" | "mount";
  user: string;
  address: string;
  repository?: string;
  reference?: string;
  digest?: string;
  /** A mount's source repository. */
  from?: string;
  scope?: string;
  reason?: string;
  status?: number;
}

/** The audit log: JSON lines, to its own file or into the server's log. */
export class Audit {
  private readonly out: WriteStream | undefined;

  constructor(
    private readonly log: Logger,
    path?: string,
  ) {
    this.out = path === undefined ? undefined : createWriteStream(path, { flags: "a", mode: 0o600 });
    this.out?.on("error", (err) => log.error({ err }, "audit log cannot be written"));
  }

  record(event: AuditEvent): void {
    if (this.out === undefined) this.log.info({ audit: event }, "audit");
    else this.out.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
  }

  close(): Promise<void> {
    const out = this.out;
    return out === undefined ? Promise.resolve() : new Promise((resolve) => out.end(resolve));
  }
}
