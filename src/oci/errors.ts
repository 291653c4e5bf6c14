/**
 * The one table of registry error codes (distribution-spec "Error Codes"), with the HTTP status each
 * is served with by default. UNKNOWN is only ever sent for a failure of the registry itself (500).
 * UNAVAILABLE is also what a full store answers, with 507 Insufficient Storage (server/errors.ts).
 */
export const errorCodes = {
  BLOB_UNKNOWN: { status: 404, message: "blob unknown to registry" },
  BLOB_UPLOAD_INVALID: { status: 400, message: "blob upload invalid" },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: "blob upload unknown to registry" },
  DIGEST_INVALID: { status: 400, message: "provided digest did not match uploaded content" },
  MANIFEST_BLOB_UNKNOWN: { status: 400, message: "manifest references a manifest or blob unknown to registry" },
  MANIFEST_INVALID: { status: 400, message: "manifest invalid" },
  MANIFEST_UNKNOWN: { status: 404, message: "manifest unknown to registry" },
  NAME_INVALID: { status: 400, message: "invalid repository name" },
  NAME_UNKNOWN: { status: 404, message: "repository name not known to registry" },
  SIZE_INVALID: { status: 400, message: "provided length did not match content length" },
  UNAUTHORIZED: { status: 401, message: "authentication required" },
  DENIED: { status: 403, message: "requested access to the resource is denied" },
  UNSUPPORTED: { status: 405, message: "the operation is unsupported" },
  TOOMANYREQUESTS: { status: 429, message: "too many requests" },
  // registry:2's own, beside the spec's: what docker's client and registry:2 send for these.
  PAGINATION_NUMBER_INVALID: { status: 400, message: "invalid number of results requested" },
  RANGE_INVALID: { status: 416, message: "invalid content range" },
  UNAVAILABLE: { status: 503, message: "service unavailable" },
  UNKNOWN: { status: 500, message: "unknown error" },
} as const;

export type ErrorCode = keyof typeof errorCodes;

export interface ErrorBody {
  code: string;
  message: string;
  detail?: unknown;
}

/** An error that maps onto one entry of the table; thrown by registry code, rendered by the server. */
export class RegistryError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: unknown;
  /** Extra response headers (e.g. Range on a 416, Retry-After on a 429). */
  readonly headers: Record<string, string>;
  /** Further errors reported in the same envelope (e.g. every missing blob of a manifest). */
  readonly more: ErrorBody[];

  constructor(
    code: ErrorCode,
    message?: string,
    options: { detail?: unknown; status?: number; headers?: Record<string, string>; more?: ErrorBody[]; cause?: unknown } = {},
  ) {
    super(message ?? errorCodes[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "RegistryError";
    this.code = code;
    this.status = options.status ?? errorCodes[code].status;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
    this.more = options.more ?? [];
  }

  /** The `errors` list of the response envelope. */
  toJSON(): ErrorBody[] {
    const body: ErrorBody = { code: this.code, message: this.message };
    if (this.detail !== undefined) body.detail = this.detail;
    return [body, ...this.more];
  }
}

export function isRegistryError(err: unknown): err is RegistryError {
  return err instanceof RegistryError;
}
