/**
 * What each registry is started with: its config file's contents and its command-line arguments,
 * on a fresh directory or on a fresh bucket of the run's S3 gateway (bench/gateway.ts). Both
 * registries get the same `storage.s3` keys (registry:2's), and the same redirect setting.
 */
import type { S3Access } from "../test/helpers/s3.js";

/** Where a server keeps what is pushed to it. */
export type ServerStorage =
  | { kind: "filesystem" }
  /** A bucket of the gateway; blob GETs answered with a redirect to a presigned URL of it when `redirect`. */
  | { kind: "s3"; gateway: S3Access; bucket: string; redirect: boolean };

export const onFilesystem: ServerStorage = { kind: "filesystem" };

/** registry:2's `storage.s3` keys for the gateway, as its docs configure an S3-compatible service. */
function s3Keys(storage: Extract<ServerStorage, { kind: "s3" }>): Record<string, unknown> {
  const { gateway, bucket } = storage;
  return { accesskey: gateway.accessKey, secretkey: gateway.secretKey, region: gateway.region, regionendpoint: gateway.endpoint, bucket, secure: false, v4auth: true };
}

/**
 * lading's config (its filesystem root is given with --storage, see `ladingArgs`): access log
 * off, warnings only, and no request rate per client (every request of a workload comes from one
 * address, as no real client's would; the reference has no such limit).
 */
export function ladingConfig(storage: ServerStorage, extra: Record<string, unknown>): Record<string, unknown> {
  const s3 = storage.kind === "s3" ? { storage: { s3: s3Keys(storage), redirect: { disable: !storage.redirect } } } : {};
  const lading = (extra.lading ?? {}) as Record<string, unknown>;
  return { log: { level: "warn", accesslog: { disabled: true } }, ...s3, ...extra, lading: { ...lading, limits: { rate: 0, ...(lading.limits as object | undefined) } } };
}

/** `lading serve`'s arguments after the launcher. */
export function ladingArgs(host: string, root: string, config: string, storage: ServerStorage): string[] {
  return ["serve", "--listen", host, ...(storage.kind === "filesystem" ? ["--storage", root] : []), "--log-level", "warn", "--config", config];
}

/**
 * The reference's config: uploadpurging off (it would remove upload folders it did not write),
 * delete on, its blob-descriptor cache in memory as in its official image and in Debian's own
 * config.yml. On S3, blob GETs are redirected only when asked: its default is to redirect.
 */
export function referenceConfig(storage: ServerStorage, root: string, host: string, extra: Record<string, unknown>): Record<string, unknown> {
  const driver = storage.kind === "s3" ? { s3: s3Keys(storage), redirect: { disable: !storage.redirect } } : { filesystem: { rootdirectory: root } };
  return {
    version: 0.1,
    log: { level: "warn", accesslog: { disabled: true } },
    storage: {
      ...driver,
      cache: { blobdescriptor: "inmemory" },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: { addr: host, secret: "lading-bench" },
    ...extra,
  };
}

/**
 * The servers' environment: no REGISTRY_* (the reference reads them as config overrides) nor
 * LADING_* variables (lading reads them as settings), and no AWS_* ones: the Go AWS SDK inside the
 * reference panics on this machine's AWS_CA_BUNDLE, and either SDK could take credentials or an
 * endpoint from them over the config's. Both registries get the same environment.
 */
export function serverEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(REGISTRY_|LADING_|AWS_)/.test(key)));
}
