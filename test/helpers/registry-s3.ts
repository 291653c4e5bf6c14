/**
 * Debian's docker-registry, the reference implementation, storing in an S3 bucket (the tests'
 * Ceph gateway, ./ceph.ts): the peer for tests of lading's S3 layout. Its keys are those of its
 * filesystem layout under the bucket: [rootDirectory/]docker/registry/v2/{blobs,repositories}/...
 *
 * Its environment has no REGISTRY_* variables (each is read as a config override;
 * REGISTRY_AUTH_FILE alone crashes it) and no AWS_* ones: the Go AWS SDK inside panics on this
 * machine's AWS_CA_BUNDLE, and the others could override what the config says.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { freePort, waitForHttp } from "./registries.js";
import type { S3Access } from "./s3.js";
import { ServerProcess } from "./server-process.js";

export interface RegistryOnS3 {
  /** host:port, as it appears in image references (127.0.0.1:PORT/repo:tag). */
  readonly host: string;
  /** http://host:port */
  readonly url: string;
  readonly bucket: string;
  /** The key prefix holding docker/registry/v2: "" for the bucket's root, else ending in "/". */
  readonly keyPrefix: string;
  readonly process: ServerProcess;
  /** Stops the server by its PID and waits for it to exit. */
  stop(): Promise<void>;
}

export interface RegistryOnS3Options {
  /** A folder in the bucket (e.g. "/registry") instead of its root. */
  rootDirectory?: string;
  /**
   * Let blob GETs answer with a redirect to a presigned URL of the gateway, as the driver does by
   * default. Off unless asked: blobs then come through the registry, as from lading.
   */
  redirect?: boolean;
}

/** Starts docker-registry on `bucket` (which must exist), its config written into `configDir`. */
export async function startDockerRegistryOnS3(s3: S3Access, bucket: string, configDir: string, options: RegistryOnS3Options = {}): Promise<RegistryOnS3> {
  let lastError: unknown;
  // A port found free can be taken before the registry binds it: try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const host = `127.0.0.1:${await freePort()}`;
    const config = join(configDir, `docker-registry-s3-${host.replace(/\W/g, "-")}.yml`);
    await writeFile(config, registryConfig(s3, bucket, host, options));
    const proc = ServerProcess.spawn({ name: "docker-registry (s3)", command: "docker-registry", args: ["serve", config], env: registryEnv() });
    try {
      await waitForHttp(`http://${host}/v2/`, proc);
      const keyPrefix = (options.rootDirectory ?? "").replace(/^\/+|\/+$/g, "");
      return { host, url: `http://${host}`, bucket, keyPrefix: keyPrefix === "" ? "" : `${keyPrefix}/`, process: proc, stop: () => proc.stop() };
    } catch (err) {
      lastError = err;
      await proc.stop();
    }
  }
  throw lastError;
}

function registryConfig(s3: S3Access, bucket: string, host: string, options: RegistryOnS3Options): string {
  const driver = {
    accesskey: s3.accessKey,
    secretkey: s3.secretKey,
    region: s3.region,
    regionendpoint: s3.endpoint,
    bucket,
    secure: false,
    v4auth: true,
    ...(options.rootDirectory === undefined ? {} : { rootdirectory: options.rootDirectory }),
  };
  // JSON is YAML: no quoting rules to get wrong.
  const config = {
    version: 0.1,
    log: { level: "info", accesslog: { disabled: true } },
    storage: {
      s3: driver,
      delete: { enabled: true },
      redirect: { disable: options.redirect !== true },
      // It would otherwise remove upload folders it did not write.
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: { addr: host, secret: "lading-e2e-not-a-secret" },
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

function registryEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("REGISTRY_") && !name.startsWith("AWS_")));
}
