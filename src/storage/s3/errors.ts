import type { S3Client } from "@aws-sdk/client-s3";

/*
 * What S3's errors mean to the driver. A request's own outcome (a missing key, a range past the
 * end) stays the SDK's error for the caller to test; what says the store as a whole is unusable
 * (credentials, the bucket, the network) becomes an Error saying what to fix, which the checking
 * wrapper turns into a StorageError naming the operation and the path.
 */

interface SdkError {
  name?: string;
  Code?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

function details(err: unknown): SdkError {
  return typeof err === "object" && err !== null ? (err as SdkError) : {};
}

export function errorCode(err: unknown): string | undefined {
  const e = details(err);
  return e.Code ?? e.name;
}

export function statusOf(err: unknown): number | undefined {
  return details(err).$metadata?.httpStatusCode;
}

/** The key is not there (HEAD answers a bare 404; the bucket was checked when the driver opened). */
export function isMissingKey(err: unknown): boolean {
  const code = errorCode(err);
  return code === "NoSuchKey" || code === "NotFound" || (statusOf(err) === 404 && code !== "NoSuchBucket" && code !== "NoSuchUpload");
}

export function isMissingUpload(err: unknown): boolean {
  return errorCode(err) === "NoSuchUpload" || (statusOf(err) === 404 && errorCode(err) !== "NoSuchBucket");
}

export function isInvalidRange(err: unknown): boolean {
  return errorCode(err) === "InvalidRange" || statusOf(err) === 416;
}

const credentialCodes = new Set(["InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "TokenRefreshRequired", "InvalidSecurity"]);
const unreachableCodes = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);
const silentCodes = new Set(["ETIMEDOUT", "TimeoutError"]);

/** A clearer error for what makes the whole store unusable; any other error as it came. */
export function explain(err: unknown, bucket: string, endpoint: string | undefined): unknown {
  const code = errorCode(err);
  const status = statusOf(err);
  const cause = { cause: err };
  if (code === "CredentialsProviderError") {
    return new Error("no S3 credentials: set storage.s3.accesskey and secretkey, or provide them to the AWS SDK's default chain (environment, profile, instance role)", cause);
  }
  if (code !== undefined && credentialCodes.has(code)) {
    return new Error(`S3 rejected the credentials (${code}): check storage.s3.accesskey and secretkey`, cause);
  }
  if (code === "AccessDenied" || code === "Forbidden" || status === 403) {
    return new Error(`S3 denied access to bucket ${bucket} (${code ?? status}): check the credentials and the bucket's policy`, cause);
  }
  if (code === "NoSuchBucket") return new Error(`S3 bucket ${bucket} does not exist`, cause);
  const where = endpoint === undefined ? "S3" : `S3 at ${endpoint}`;
  const network = details(err).code ?? code;
  if (network !== undefined && unreachableCodes.has(network)) return new Error(`cannot reach ${where} (${network})`, cause);
  if (network !== undefined && silentCodes.has(network)) return new Error(`${where} did not answer in time (${network})`, cause);
  return err;
}

/** Every request of `client` fails with `explain`'s errors (outside the SDK's retries). */
export function explainErrors(client: S3Client, bucket: string, endpoint: string | undefined): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        throw explain(err, bucket, endpoint);
      }
    },
    { step: "initialize", name: "ladingExplainErrors" },
  );
}
