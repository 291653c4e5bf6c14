/**
 * The run's S3 server for the S3 workloads: one Ceph RADOS Gateway (test/helpers/ceph-gateway.ts),
 * objects in RAM (memstore), started once when a selected workload runs on S3 and stopped by its
 * PIDs at the end. Every server gets a bucket of its own, deleted when it stops, with the space of
 * what it held freed at once (the gateway would otherwise keep deleted data for an hour).
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { startCeph, type CephS3 } from "../test/helpers/ceph-gateway.js";
import type { S3Access } from "../test/helpers/s3.js";
import type { Options } from "./options.js";

export interface Gateway {
  readonly access: S3Access;
  /** The gateway's, the OSD's and the monitor's. */
  readonly pids: readonly number[];
  /** A new, empty bucket whose name starts with `what`. */
  bucket(what: string): Promise<string>;
  /** Deletes the bucket with everything in it, and frees the space. */
  drop(bucket: string): Promise<void>;
  stop(): Promise<void>;
}

const cephPrograms = ["monmaptool", "ceph-mon", "ceph-osd", "ceph", "radosgw", "radosgw-admin"];

/** Why the gateway cannot start here (a program missing), or undefined. */
export async function gatewayUnavailable(): Promise<string | undefined> {
  const dirs = (process.env.PATH ?? "").split(delimiter).filter(Boolean);
  const missing = cephPrograms.filter((p) => !dirs.some((d) => existsSync(join(d, p))));
  if (missing.length === 0) return undefined;
  return `${missing.join(", ")} not found (apt-get install ceph-mon ceph-osd radosgw)`;
}

const GiB = 1024 ** 3;

/**
 * The RAM the OSD may fill: twice the most one workload stores at once (a registry commits an
 * upload by copying it to the blob's key, and the copy's source is garbage until the workload
 * ends), with room to spare. It is a ceiling: memstore takes only what is stored.
 */
function memstoreBytes(opts: Options): number {
  const most = Math.max(3 * opts.bigCount * opts.bigBytes, opts.parallelPushes * opts.parallelBytes);
  return Math.max(2 * GiB, Math.ceil(2 * most + GiB));
}

export async function startGateway(opts: Options): Promise<Gateway> {
  // Admin socket paths must fit in 108 bytes: a short folder.
  const dir = await mkdtemp(join(tmpdir().length <= 40 ? tmpdir() : "/tmp", "lading-bench-s3-"));
  let ceph: CephS3;
  try {
    ceph = await startCeph(dir, { memstoreBytes: memstoreBytes(opts) });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const access: S3Access = { endpoint: ceph.endpoint, accessKey: ceph.accessKey, secretKey: ceph.secretKey, region: ceph.region };
  return {
    access,
    pids: ceph.pids,
    async bucket(what) {
      const name = `${what.toLowerCase().replace(/[^a-z0-9-]/g, "-").slice(0, 40)}-${randomBytes(4).toString("hex")}`;
      await ceph.createBucket(name);
      return name;
    },
    async drop(bucket) {
      await ceph.deleteBucket(bucket);
      await ceph.collectGarbage();
    },
    async stop() {
      try {
        await ceph.stop();
      } finally {
        if (!opts.keep) await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
