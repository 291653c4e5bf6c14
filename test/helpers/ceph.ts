/**
 * The tests' S3 server: Ceph's RADOS Gateway (./ceph-gateway.ts), shared by the test files of a run
 * or private to one.
 *
 * `npm test` starts one for the whole run (../with-daemons.ts) and names it in the E2E_S3_*
 * variables (./run-daemons.ts); a test file run alone starts a private one (useCeph). Test files
 * share the gateway through buckets of their own (uniqueBucketName in ./s3.ts).
 */
import { after } from "node:test";
import { startCeph, withBuckets, type CephS3, type S3Server } from "./ceph-gateway.js";
import { makeDaemonsDir, removeDaemonsDir, S3_ACCESS_KEY_VAR, S3_ENDPOINT_VAR, S3_REGION_VAR, S3_SECRET_KEY_VAR } from "./run-daemons.js";
import type { S3Access } from "./s3.js";

export { startCeph, type CephS3, type S3Server } from "./ceph-gateway.js";

/**
 * The gateway for this test file: the run's (E2E_S3_* variables), or a private one, stopped and
 * removed by an `after` hook. Call it at the top level of the test file (see runOrPrivateDaemon in
 * ./run-daemons.ts). Either way, create buckets of your own and delete them when done.
 */
export async function useCeph(): Promise<S3Server> {
  const shared = sharedGateway();
  if (shared !== undefined) return shared;
  const dir = await makeDaemonsDir();
  let ceph: CephS3;
  try {
    ceph = await startCeph(dir);
  } catch (err) {
    await removeDaemonsDir(dir);
    throw err;
  }
  after(async () => {
    await ceph.stop();
    await removeDaemonsDir(dir);
  });
  return ceph;
}

/** The E2E_S3_* variables that name `s3` to the test files of a run. */
export function s3Variables(s3: S3Access): Record<string, string> {
  return { [S3_ENDPOINT_VAR]: s3.endpoint, [S3_ACCESS_KEY_VAR]: s3.accessKey, [S3_SECRET_KEY_VAR]: s3.secretKey, [S3_REGION_VAR]: s3.region };
}

function sharedGateway(): S3Server | undefined {
  const endpoint = process.env[S3_ENDPOINT_VAR];
  if (endpoint === undefined || endpoint === "") return undefined;
  const variable = (name: string): string => {
    const value = process.env[name];
    if (value === undefined || value === "") throw new Error(`${S3_ENDPOINT_VAR} is set but ${name} is not`);
    return value;
  };
  return withBuckets({ endpoint, accessKey: variable(S3_ACCESS_KEY_VAR), secretKey: variable(S3_SECRET_KEY_VAR), region: variable(S3_REGION_VAR) });
}
