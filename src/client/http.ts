import http, { type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";
import { ClientError, NetworkError } from "./errors.js";

export interface HttpRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  /** A Readable is consumed: a request with one cannot be sent twice. */
  body?: Buffer | Readable;
  /** Idle time on the socket before the request fails as a network error. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Where the response finally came from, after redirects. */
  url: URL;
  body: IncomingMessage;
}

const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 16 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 16 }),
};
const maxRedirects = 5;

/** One HTTP exchange. Redirects are followed for GET and HEAD only, dropping credentials across hosts. */
export async function send(request: HttpRequest): Promise<HttpResponse> {
  let url = request.url;
  let headers = { ...request.headers };
  for (let hop = 0; ; hop++) {
    const response = await sendOnce({ ...request, url, headers });
    const location = response.headers.location;
    const redirect = [301, 302, 303, 307, 308].includes(response.status) && location !== undefined;
    if (!redirect || !(request.method === "GET" || request.method === "HEAD")) return response;
    response.body.resume();
    if (hop >= maxRedirects) throw new ClientError(`${request.method} ${request.url}: too many redirects`);
    const next = new URL(location, url);
    if (next.host !== url.host) {
      headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== "authorization"));
    }
    url = next;
  }
}

function sendOnce(request: HttpRequest): Promise<HttpResponse> {
  const secure = request.url.protocol === "https:";
  const lib = secure ? https : http;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { "user-agent": "lading/0.1", ...request.headers };
    if (Buffer.isBuffer(request.body)) headers["content-length"] = String(request.body.length);
    const req = lib.request(request.url, {
      method: request.method,
      headers,
      agent: secure ? agents.https : agents.http,
      ...(request.signal === undefined ? {} : { signal: request.signal }),
    });
    const fail = (err: unknown) => reject(new NetworkError(`${request.method} ${request.url}: ${(err as Error).message}`, err));
    req.setTimeout(request.timeoutMs ?? 120_000, () => req.destroy(new Error("timed out")));
    req.on("error", fail);
    req.on("response", (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, url: request.url, body: res }));
    const body = request.body;
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else {
      body.on("error", (err) => req.destroy(err));
      body.pipe(req);
    }
  });
}

/** Reads a small response body whole, refusing more than `cap` bytes. */
export async function readBody(res: IncomingMessage, cap = 8 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of res) {
      total += (chunk as Buffer).length;
      if (total > cap) {
        res.destroy();
        throw new ClientError(`response body larger than ${cap} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof ClientError) throw err;
    throw new NetworkError(`reading response: ${(err as Error).message}`, err);
  }
  return Buffer.concat(chunks);
}

/** Discards a body so the connection can be reused. */
export function drain(res: IncomingMessage): void {
  res.resume();
}

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}
