/**
 * The load client: undici (Node's own HTTP/1.1 client) through its lowest documented API,
 * `dispatch`, with a keep-alive agent per workload (at most `concurrency` connections per server).
 * Bodies are sent with backpressure from iterables; response bodies are either collected or fed to
 * a sink (a hash, for pulls), so that big downloads are never held. A request costs the client
 * about half of node:http's CPU: on two cores the client's share is the servers' loss, so the
 * lighter client measures them more closely.
 */
import { Agent, type Dispatcher } from "undici";

export type Headers = Record<string, string | undefined>;

export function keepAliveAgent(concurrency: number): Agent {
  return new Agent({ connections: concurrency, pipelining: 1 });
}

export interface Reply {
  status: number;
  /** Lowercased names; a repeated header's values joined with ", ". */
  headers: Headers;
  /** The collected body; empty when a sink took it. */
  body: Buffer;
  /** Bytes received in the body. */
  received: number;
}

export interface Call {
  method: Dispatcher.HttpMethod;
  url: string | URL;
  agent: Dispatcher;
  headers?: Record<string, string | number>;
  /** A Buffer is sent with its Content-Length; an iterable as it comes (chunked unless a length is given). */
  body?: Buffer | Iterable<Buffer>;
  sink?: (chunk: Buffer) => void;
}

/** The origin and the path of an absolute http URL, split without a URL object for strings. */
function target(url: string | URL): { origin: string; path: string } {
  if (typeof url !== "string") return { origin: url.origin, path: `${url.pathname}${url.search}` };
  const slash = url.indexOf("/", url.indexOf("//") + 2);
  return slash < 0 ? { origin: url, path: "/" } : { origin: url.slice(0, slash), path: url.slice(slash) };
}

function headerRecord(raw: Buffer[]): Headers {
  const headers: Headers = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toString("latin1").toLowerCase();
    const value = raw[i + 1]!.toString("latin1");
    const before = headers[name];
    headers[name] = before === undefined ? value : `${before}, ${value}`;
  }
  return headers;
}

export function call(c: Call): Promise<Reply> {
  const { origin, path } = target(c.url);
  const headers: Record<string, string> = {};
  for (const name in c.headers) headers[name] = String(c.headers[name]);
  // undici sends any iterable as it comes; its typings name only streams.
  const body = (c.body ?? null) as NonNullable<Dispatcher.DispatchOptions["body"]> | null;
  return new Promise<Reply>((resolve, reject) => {
    const parts: Buffer[] = [];
    const sink = c.sink;
    let status = 0;
    let received = 0;
    let replyHeaders: Headers = {};
    // reset: false keeps the connection after a HEAD too (undici closes it by default, against servers that send a body anyway).
    c.agent.dispatch(
      { origin, path, method: c.method, headers, body, reset: false },
      {
        onConnect() {},
        onError: reject,
        onHeaders(code, raw) {
          status = code;
          replyHeaders = headerRecord(raw);
          return true;
        },
        onData(chunk) {
          received += chunk.length;
          if (sink) sink(chunk);
          else parts.push(chunk);
          return true;
        },
        onComplete() {
          resolve({ status, headers: replyHeaders, body: parts.length === 1 ? parts[0]! : Buffer.concat(parts), received });
        },
      },
    );
  });
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
  if (value === undefined) throw new Error(`response has no ${name} header`);
  return value;
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

/**
 * The agent, sending `authorization` (when given) with every request, whatever the workload's
 * protocol functions send: the same requests with and without access control. The workloads'
 * requests carry their headers as a plain object (see `call`).
 */
export function withAuthorization(agent: Dispatcher, authorization: string | undefined): Dispatcher {
  return agent.compose((dispatch) => (options, handler) =>
    dispatch(authorization === undefined ? options : { ...options, headers: { ...(options.headers as Record<string, string> | undefined), authorization } }, handler),
  );
}
