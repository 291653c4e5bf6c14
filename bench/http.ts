/**
 * The load client: node:http with a keep-alive agent per workload (maxSockets = concurrency), bodies
 * written with backpressure from generators, response bodies either collected or fed to a sink
 * (a hash, for pulls) so that big downloads are never held.
 */
import { once } from "node:events";
import http from "node:http";

export function keepAliveAgent(concurrency: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The collected body; empty when a sink took it. */
  body: Buffer;
  /** Bytes received in the body. */
  received: number;
}

export interface Call {
  method: string;
  url: string | URL;
  agent: http.Agent;
  headers?: Record<string, string | number>;
  /** A Buffer is sent with its Content-Length; an iterable as it comes (chunked unless a length is given). */
  body?: Buffer | Iterable<Buffer>;
  sink?: (chunk: Buffer) => void;
}

export function call(c: Call): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const req = http.request(c.url, { method: c.method, agent: c.agent, headers: c.headers ?? {} }, (res) => {
      const parts: Buffer[] = [];
      let received = 0;
      res.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (c.sink) c.sink(chunk);
        else parts.push(chunk);
      });
      res.once("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts), received }));
      res.once("error", reject);
    });
    req.once("error", reject);
    if (c.body === undefined) req.end();
    else if (Buffer.isBuffer(c.body)) req.end(c.body);
    else writeAll(req, c.body).catch(reject);
  });
}

async function writeAll(req: http.ClientRequest, chunks: Iterable<Buffer>): Promise<void> {
  for (const chunk of chunks) {
    if (!req.write(chunk)) await once(req, "drain");
  }
  req.end();
}

/** Throws, naming the request and the server's answer, unless the status is one of `ok`. */
export function expectStatus(reply: Reply, what: string, ...ok: number[]): Reply {
  if (!ok.includes(reply.status)) {
    const text = reply.body.toString("utf8", 0, Math.min(reply.body.length, 400));
    throw new Error(`${what}: HTTP ${reply.status} (wanted ${ok.join(" or ")})${text ? `: ${text}` : ""}`);
  }
  return reply;
}

export function headerOf(reply: Reply, name: string): string {
  const value = reply.headers[name.toLowerCase()];
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined) throw new Error(`response has no ${name} header`);
  return first;
}

/**
 * Runs `op(i)` for i = 0, 1, ... with `concurrency` in flight: at least `count` operations, and more
 * (i keeps counting; the op takes i modulo its item count) until `minMs` has passed. Returns how many ran.
 */
export async function runPool(count: number, concurrency: number, op: (i: number) => Promise<void>, minMs = 0): Promise<number> {
  const start = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      if (next >= count && performance.now() - start >= minMs) return;
      await op(next++);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker));
  return next;
}
