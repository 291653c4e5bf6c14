import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { ObjectCannedACL, S3Client, S3ClientConfig, ServerSideEncryption, StorageClass } from "@aws-sdk/client-s3";
import type { Config } from "../../config/schema.js";
import { KeyMap } from "./keys.js";
import { PartPool } from "./pool.js";

/** The validated `storage.s3` section (src/config/schema.ts). */
export type S3Settings = NonNullable<Config["storage"]["s3"]>;

/** S3's smallest part but the last. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;

/** Headers every object the driver writes carries: how registry:2 writes them. */
export interface ObjectParams {
  ContentType: string;
  StorageClass?: StorageClass;
  ServerSideEncryption?: ServerSideEncryption;
  SSEKMSKeyId?: string;
  ACL?: ObjectCannedACL;
}

/** What the driver's parts need to know, derived once from the settings. */
export interface S3Options {
  bucket: string;
  keys: KeyMap;
  /** Size of each uploaded part. */
  chunkSize: number;
  /** The part buffers all writers share (`uploadmemory`). */
  parts: PartPool;
  copy: { threshold: number; chunkSize: number; concurrency: number };
  object: ObjectParams;
}

/** The options and the client, as the driver's parts share them. */
export interface S3Context extends S3Options {
  readonly client: S3Client;
  /** Hears what goes wrong where no request fails for it (a leftover that could not be removed). */
  readonly warn: (message: string) => void;
}

export function s3Options(settings: S3Settings): S3Options {
  const object: ObjectParams = { ContentType: "application/octet-stream" };
  if (settings.storageclass !== "NONE") object.StorageClass = settings.storageclass;
  if (settings.encrypt) object.ServerSideEncryption = settings.keyid ? "aws:kms" : "AES256";
  if (settings.encrypt && settings.keyid) object.SSEKMSKeyId = settings.keyid;
  if (settings.objectacl !== undefined) object.ACL = settings.objectacl;
  return {
    bucket: settings.bucket,
    keys: new KeyMap(settings.rootdirectory),
    chunkSize: settings.chunksize,
    parts: new PartPool(settings.chunksize, Math.floor(uploadMemory(settings) / settings.chunksize)),
    copy: { threshold: settings.multipartcopythresholdsize, chunkSize: settings.multipartcopychunksize, concurrency: settings.multipartcopymaxconcurrency },
    object,
  };
}

/**
 * The bytes all part buffers may take: `uploadmemory`, else 64 MiB, and at least one writer's
 * filling part and its parts in flight (five parts), so one upload alone runs at full speed.
 */
export function uploadMemory(settings: S3Settings): number {
  return settings.uploadmemory ?? Math.max(64 * 1024 * 1024, 5 * settings.chunksize);
}

/** The endpoint URL, when one is configured: a bare host takes its scheme from `secure`. */
export function endpointOf(settings: S3Settings): string | undefined {
  const endpoint = settings.regionendpoint;
  if (endpoint === undefined) return undefined;
  if (/^https?:\/\//i.test(endpoint)) return endpoint;
  return `${settings.secure === false ? "http" : "https"}://${endpoint}`;
}

/**
 * The SDK client's settings. Checksums only where an operation requires one: Ceph 16 answers the
 * SDK's default aws-chunked uploads with trailing checksums with 411, and other S3-compatible
 * services vary. The SDK retries throttling, 5xx and timeouts itself, with backoff; every request
 * the driver makes is safe to repeat (bodies are Buffers; a repeated CompleteMultipartUpload or
 * delete finds its work done). Sockets: a multipart copy runs `multipartcopymaxconcurrency`
 * requests at once, beside the registry's own. A socket silent for minutes is dead; a shorter limit
 * would also fail a reader whose consumer merely holds it back (backpressure stops the socket too).
 */
export function clientConfig(settings: S3Settings): S3ClientConfig {
  const sockets = settings.multipartcopymaxconcurrency + 64;
  const endpoint = endpointOf(settings);
  const config: S3ClientConfig = {
    region: settings.region ?? "us-east-1",
    forcePathStyle: settings.forcepathstyle ?? endpoint !== undefined,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 5,
    requestHandler: {
      connectionTimeout: 10_000,
      socketTimeout: 300_000,
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets: sockets }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: sockets, rejectUnauthorized: !settings.skipverify }),
    },
    useDualstackEndpoint: settings.usedualstack,
    useAccelerateEndpoint: settings.accelerate,
    useFipsEndpoint: settings.usefipsendpoint,
  };
  if (endpoint !== undefined) config.endpoint = endpoint;
  if (settings.accesskey && settings.secretkey) config.credentials = { accessKeyId: settings.accesskey, secretAccessKey: settings.secretkey };
  if (settings.useragent) config.customUserAgent = settings.useragent;
  return config;
}
