import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import { RegistryError } from "../oci/errors.js";
import type { Registry } from "../registry/index.js";
import type { Grant } from "../auth/policy.js";

/** Everything a route handler gets for one request. */
export interface Context {
  req: IncomingMessage;
  res: ServerResponse;
  /** Path parameters from the route: repository name, reference, digest or upload id. */
  params: Record<string, string>;
  query: URLSearchParams;
  registry: Registry;
  /** What the caller may do, from access control. */
  grant: Grant;
  config: Config;
  log: Logger;
  /** Bytes of request body consumed (counted by handlers that stream bodies). */
  bytesIn: number;
  /** The route's name, for logs and metrics. */
  route: string;
  /** Tags a request removed besides the one it named (a manifest's, deleted with it): its events report them. */
  untagged?: readonly string[];
}

export type Handler = (ctx: Context) => Promise<void>;

/**
 * The registry's own URL for a path, for Location headers: absolute when `http.host` names the
 * registry's public address, otherwise a path, which every client resolves against the request
 * (and which no proxy's Host header can get wrong).
 */
export function urlFor(ctx: Context, path: string): string {
  if (ctx.config.http.host === undefined || ctx.config.http.relativeurls) return path;
  return new URL(path, ctx.config.http.host).toString();
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function sendJson(ctx: Context, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendJsonBytes(ctx, status, Buffer.from(JSON.stringify(body)), headers);
}

/** Sends JSON already serialized. */
export function sendJsonBytes(ctx: Context, status: number, json: Buffer, headers: Record<string, string> = {}): void {
  ctx.res.writeHead(status, { "Content-Type": "application/json", "Content-Length": json.length, ...headers });
  ctx.res.end(ctx.req.method === "HEAD" ? undefined : json);
}

export function sendEmpty(ctx: Context, status: number, headers: Record<string, string | number | string[]> = {}): void {
  ctx.res.writeHead(status, { "Content-Length": 0, ...headers });
  ctx.res.end();
}

/**
 * Reads a small request body whole, refusing more than `limit` bytes with `tooLarge` (the rest of
 * the body is read and dropped, so that the refusal can be answered). A request that closes before
 * its body ends is refused with a premature-close error.
 *
 * Read with listeners, not `for await`: an async iterator's objects are garbage by the time a
 * full collection runs, and V8 then discards the optimized code built on their hidden classes.
 */
export function readBody(ctx: Context, limit: number, tooLarge: () => RegistryError): Promise<Buffer> {
  const { req } = ctx;
  const declared = Number(header(req, "content-length") ?? Number.NaN);
  if (declared > limit) {
    req.resume();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (err: unknown, body?: Buffer): void => {
      req.off("data", onData).off("end", onEnd).off("error", settle).off("close", onClose);
      if (body) resolve(body);
      else reject(err);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else {
        settle(tooLarge());
        req.resume();
      }
    };
    const onEnd = (): void => {
      ctx.bytesIn += size;
      // A buffer of its own, not a slice of Node's shared 8 KiB pool: a body may be kept (a
      // manifest in the cache), and a kept slice keeps its whole pool chunk alive.
      const body = Buffer.allocUnsafeSlow(size);
      let at = 0;
      for (const chunk of chunks) at += chunk.copy(body, at);
      settle(undefined, body);
    };
    const onClose = (): void => settle(Object.assign(new Error("the request closed before its body ended"), { code: "ERR_STREAM_PREMATURE_CLOSE" }));
    req.on("data", onData).on("end", onEnd).on("error", settle).on("close", onClose);
  });
}

/** A non-negative integer query parameter; undefined when absent. */
export function intParam(ctx: Context, name: string): number | undefined {
  const value = ctx.query.get(name);
  if (value === null || value === "") return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new RegistryError("PAGINATION_NUMBER_INVALID", `query parameter ${name} must be a non-negative integer below 2^53`);
  return n;
}
