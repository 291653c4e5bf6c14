import type { ServerResponse } from "node:http";
import type { Logger } from "pino";
import { RegistryError } from "../oci/errors.js";
import { InvalidPathError, isStorageFull, StorageUnavailableError } from "../storage/driver.js";

/**
 * Maps anything thrown by a handler to a registry error; a store refusing writes is UNAVAILABLE
 * (503), other storage faults UNKNOWN (500). A full store is UNAVAILABLE with 507 Insufficient
 * Storage (RFC 4918: the server cannot store what the request needs): like registry:2's 500 it is a
 * server-side failure clients may retry, but it says what an operator must do, and the code stays
 * one clients know.
 */
export function toRegistryError(err: unknown): RegistryError {
  if (err instanceof RegistryError) return err;
  if (err instanceof InvalidPathError) return new RegistryError("NAME_INVALID", err.message);
  if (isStorageFull(err)) return new RegistryError("UNAVAILABLE", storageFullMessage, { status: 507, cause: err });
  if (err instanceof StorageUnavailableError) return new RegistryError("UNAVAILABLE", err.message, { cause: err });
  return new RegistryError("UNKNOWN", "internal error", { cause: err });
}

const storageFullMessage = "the registry's storage is full: it takes no writes until space is freed";

/**
 * The one place that writes the `{"errors":[...]}` envelope. After the headers have gone out there
 * is no way to report an error in HTTP/1.1 but to break the connection, so the client sees a
 * truncated body rather than a wrong one.
 */
export function sendError(res: ServerResponse, method: string | undefined, err: unknown, log: Logger): void {
  const error = toRegistryError(err);
  if (error.status >= 500) log.error({ err: error.cause ?? err }, "request failed");
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = Buffer.from(JSON.stringify({ errors: error.toJSON() }));
  res.writeHead(error.status, { ...error.headers, "Content-Type": "application/json", "Content-Length": body.length });
  res.end(method === "HEAD" ? undefined : body);
}
