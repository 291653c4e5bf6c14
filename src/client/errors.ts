import type { ErrorBody } from "../oci/errors.js";

/** Every failure the client raises; `retryable` tells the transport whether to try again. */
export class ClientError extends Error {
  override name = "ClientError";
  readonly retryable: boolean;
  readonly exitCode: number = 1;

  constructor(message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = options.retryable ?? false;
  }
}

/** A response that was not what the request wanted, with the OCI error envelope when it had one. */
export class ResponseError extends ClientError {
  override name = "ResponseError";
  readonly status: number;
  readonly errors: ErrorBody[];
  /** From Retry-After, when the server sent one. */
  readonly retryAfterMs: number | undefined;

  constructor(method: string, url: string, status: number, errors: ErrorBody[], retryAfterMs?: number) {
    const what = errors.length > 0 ? errors.map((e) => `${e.code}: ${e.message}`).join("; ") : `HTTP ${status}`;
    super(`${method} ${url}: ${what}`, { retryable: status === 429 || status === 408 || (status >= 500 && status !== 501 && status !== 505) });
    this.status = status;
    this.errors = errors;
    this.retryAfterMs = retryAfterMs;
  }

  /** True when the registry named this OCI error code (or the status implies it). */
  hasCode(code: string): boolean {
    return this.errors.some((e) => e.code === code);
  }
}

/** The connection broke or timed out before a complete response. */
export class NetworkError extends ClientError {
  override name = "NetworkError";
  constructor(message: string, cause: unknown) {
    super(message, { retryable: true, cause });
  }
}

/** Content did not hash to what its descriptor said; never retried silently into success. */
export class DigestMismatchError extends ClientError {
  override name = "DigestMismatchError";
  constructor(expected: string, actual: string, size?: { expected: number; actual: number }) {
    const sizes = size && size.expected !== size.actual ? ` (expected ${size.expected} bytes, got ${size.actual})` : "";
    super(`content digest mismatch: expected ${expected}, got ${actual}${sizes}`);
  }
}

/** Parses an OCI/Docker error envelope; anything else yields no entries. */
export function parseErrorEnvelope(body: string): ErrorBody[] {
  try {
    const json: unknown = JSON.parse(body);
    if (typeof json !== "object" || json === null) return [];
    const errors = (json as { errors?: unknown }).errors;
    if (!Array.isArray(errors)) return [];
    return errors.flatMap((e: unknown) => {
      if (typeof e !== "object" || e === null) return [];
      const { code, message, detail } = e as Record<string, unknown>;
      if (typeof code !== "string") return [];
      const entry: ErrorBody = { code, message: typeof message === "string" ? message : "" };
      if (detail !== undefined) entry.detail = detail;
      return [entry];
    });
  } catch {
    return [];
  }
}

/** Retry-After is either seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value === "") return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export function isRetryable(err: unknown): boolean {
  return err instanceof ClientError && err.retryable;
}
