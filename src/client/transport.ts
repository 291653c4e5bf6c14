import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { Authenticator } from "./auth.js";
import { findCredentials, type AuthConfigOptions, type Credentials } from "./auth-config.js";
import type { Scope } from "./challenge.js";
import { ClientError, ResponseError, isRetryable, parseErrorEnvelope, parseRetryAfter } from "./errors.js";
import { header, readBody, send, type HttpResponse } from "./http.js";
import { apiHost, isLoopback } from "./reference.js";

export interface RetryPolicy {
  /** Attempts after the first. */
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const defaultRetry: RetryPolicy = { retries: 4, baseDelayMs: 250, maxDelayMs: 8000 };

export interface TransportOptions {
  /** Plain HTTP for these registries (loopback always is); `true` for every registry. */
  insecure?: boolean | readonly string[];
  retry?: RetryPolicy;
  auth?: AuthConfigOptions;
  /** Never read stored credentials. */
  anonymous?: boolean;
  /** Use these instead of stored credentials (login checks them this way). */
  credentials?: Credentials;
  /** Called before each retry; the CLI logs these. */
  onRetry?: (err: ClientError, attempt: number, delayMs: number) => void;
}

export interface TransportRequest {
  method: "GET" | "HEAD" | "PUT" | "POST" | "PATCH" | "DELETE";
  /** A path under the registry (`/v2/...`) or an absolute URL (an upload Location). */
  path: string;
  headers?: Record<string, string>;
  /** A factory when the body is a stream, so a retry can open it afresh. */
  body?: Buffer | (() => Promise<Readable> | Readable);
  scopes: Scope[];
  /** Statuses that count as success; anything else throws a ResponseError. */
  expect: readonly number[];
  /** Retry on retryable failures; off for requests that are not safe to repeat. */
  retry?: boolean;
}

/** All requests to one registry: scheme, auth, retries with backoff, typed errors. */
export class Transport {
  readonly base: URL;
  private readonly auth: Authenticator;
  private readonly retry: RetryPolicy;

  constructor(
    readonly registry: string,
    private readonly options: TransportOptions = {},
  ) {
    const insecure = options.insecure === true || (Array.isArray(options.insecure) && options.insecure.includes(registry));
    this.base = new URL(`${insecure || isLoopback(registry) ? "http" : "https"}://${apiHost(registry)}`);
    this.retry = options.retry ?? defaultRetry;
    this.auth = new Authenticator(registry, async () => {
      if (options.credentials) return options.credentials;
      return options.anonymous ? undefined : findCredentials(registry, undefined, options.auth);
    });
  }

  /** GET /v2/: the API version check, which also proves credentials. */
  async ping(): Promise<void> {
    const res = await this.request({ method: "GET", path: "/v2/", scopes: [], expect: [200] });
    res.body.resume();
  }

  url(path: string): URL {
    return new URL(path, this.base);
  }

  async request(req: TransportRequest): Promise<HttpResponse> {
    const url = this.url(req.path);
    let attempt = 0;
    let reauthenticated = false;
    for (;;) {
      try {
        const response = await this.once(req, url);
        if (req.expect.includes(response.status)) return response;
        const text = req.method === "HEAD" ? "" : (await readBody(response.body, 1 << 20)).toString("utf8");
        if (response.status === 401 && !reauthenticated && (await this.auth.challenged(header(response.headers, "www-authenticate"), req.scopes))) {
          reauthenticated = true;
          continue;
        }
        throw new ResponseError(req.method, url.toString(), response.status, parseErrorEnvelope(text), parseRetryAfter(header(response.headers, "retry-after")));
      } catch (err) {
        if (!(err instanceof ClientError)) throw err;
        if (req.retry === false || !isRetryable(err) || attempt >= this.retry.retries) throw err;
        const backoff = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** attempt);
        const delay = err instanceof ResponseError && err.retryAfterMs !== undefined ? Math.min(err.retryAfterMs, 60_000) : backoff / 2 + Math.random() * (backoff / 2);
        attempt++;
        this.options.onRetry?.(err, attempt, delay);
        await sleep(delay);
      }
    }
  }

  private async once(req: TransportRequest, url: URL): Promise<HttpResponse> {
    const headers: Record<string, string> = { ...req.headers };
    const authorization = await this.auth.authorization(req.scopes);
    if (authorization) headers.authorization = authorization;
    const body = req.body === undefined || Buffer.isBuffer(req.body) ? req.body : await req.body();
    return send({ method: req.method, url, headers, ...(body === undefined ? {} : { body }) });
  }
}

/** One transport per registry, so auth tokens and connections are shared by everything a command does. */
export class TransportPool {
  private readonly transports = new Map<string, Transport>();
  constructor(readonly options: TransportOptions = {}) {}

  get(registry: string): Transport {
    let t = this.transports.get(registry);
    if (!t) {
      t = new Transport(registry, this.options);
      this.transports.set(registry, t);
    }
    return t;
  }
}
