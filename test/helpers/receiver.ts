import type { IncomingHttpHeaders } from "node:http";
import { LoopbackServer } from "./loopback.js";

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * A webhook receiver on 127.0.0.1: keeps what it is sent, answers `status`; it can go away (its
 * port then refuses connections) and come back on the same port.
 */
export class Receiver {
  readonly received: Received[] = [];
  status = 200;
  private waiters: Array<() => void> = [];
  private readonly server = new LoopbackServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (this.status < 300) this.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(this.status).end();
      for (const wake of this.waiters.splice(0)) wake();
    });
  });

  static async start(port = 0): Promise<Receiver> {
    const receiver = new Receiver();
    await receiver.listen(port);
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/events`;
  }

  get port(): number {
    return this.server.port;
  }

  listen(port = this.server.port): Promise<void> {
    return this.server.listen(port);
  }

  /** Stops listening: connections to its port are refused until `listen` again. */
  close(): Promise<void> {
    return this.server.close();
  }

  /** The events received so far, from registry:2's envelopes. */
  events<T = Record<string, unknown>>(): T[] {
    return this.received.flatMap((r) => (JSON.parse(r.body) as { events: T[] }).events);
  }

  /** Waits until `done()` holds, at most `ms`. */
  async until(done: () => boolean, ms = 20_000, what = "events"): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: received ${this.received.length} requests`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}
