/**
 * A real S3 server: Ceph's RADOS Gateway (Debian's radosgw 16) over a throw-away single-node
 * cluster, one monitor and one OSD keeping objects in RAM (memstore), every file in one folder, no
 * systemd and no cephx (../../shared/notes/ceph-s3.md). Up in about two seconds.
 *
 * Nothing here belongs to the test runner: the tests reach it through ./ceph.ts (one gateway per
 * run, or one per test file), and the benchmark (bench/gateway.ts) starts its own with it.
 */
import { randomInt, randomUUID } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { daemonState } from "./ceph-admin-socket.js";
import { DaemonProcess } from "./daemon-process.js";
import { run } from "./exec.js";
import { freePort } from "./registries.js";
import { createBucket, deleteBucket, s3Client, type S3Access } from "./s3.js";

/** An S3 server: where it is, and buckets made and removed. */
export interface S3Server extends S3Access {
  createBucket(name: string): Promise<void>;
  /** Aborts unfinished multipart uploads and deletes every object first. */
  deleteBucket(name: string): Promise<void>;
}

/** A gateway this process started, and so stops. */
export interface CephS3 extends S3Server {
  /** The PIDs of the gateway, the OSD and the monitor, in the order `stop` stops them. */
  readonly pids: readonly number[];
  /**
   * Frees at once the space of deleted objects. The gateway deletes a big object's data (its
   * parts, anything past the first 4 MiB) only by garbage collection, an hour later by default;
   * in memstore that space is RAM.
   */
  collectGarbage(): Promise<void>;
  /** Stops the gateway, the OSD and the monitor by their PIDs (SIGTERM, then SIGKILL). */
  stop(): Promise<void>;
}

export interface CephOptions {
  /** RAM the OSD may fill (default 2 GiB). Near 95% of it writes block (they do not fail): keep it well above what is stored at once. */
  memstoreBytes?: number;
}

/** Made by `radosgw-admin user create`; the gateway only ever listens on 127.0.0.1. */
const ACCESS_KEY = "LADINGE2EACCESSKEY01";
const SECRET_KEY = "lading-e2e-secret-key-not-a-secret-000001";
/** RGW's default zonegroup answers to any region name in a signature; SDKs want one. */
const REGION = "us-east-1";
const MEMSTORE_BYTES = 2 * 1024 ** 3;
/** The OSD binds four ports (public, cluster, two heartbeats) in the range; spare room for ports taken meanwhile. */
const OSD_PORT_RANGE = 16;
const READY_TIMEOUT_MS = 30_000;
const COMMAND_TIMEOUT_MS = 30_000;
/** Collecting the garbage of gigabytes takes a while on two cores. */
const GC_TIMEOUT_MS = 300_000;
const STOP_GRACE_MS = 5_000;

/** `access` with bucket operations, each through a client of its own. */
export function withBuckets(access: S3Access): S3Server {
  const withClient = async (use: (client: ReturnType<typeof s3Client>) => Promise<void>): Promise<void> => {
    const client = s3Client(access);
    try {
      await use(client);
    } finally {
      client.destroy();
    }
  };
  return {
    ...access,
    createBucket: (name) => withClient((client) => createBucket(client, name)),
    deleteBucket: (name) => withClient((client) => deleteBucket(client, name)),
  };
}

/**
 * Starts a monitor, an OSD and the gateway with everything under `dir` (kept short: admin socket
 * paths must fit in 108 bytes), and creates the S3 user. Resolves once the gateway answers and
 * the user exists; on failure, whatever was started is stopped.
 */
export async function startCeph(dir: string, options: CephOptions = {}): Promise<CephS3> {
  const paths = cephPaths(dir);
  for (const folder of [paths.run, paths.log, paths.mon, paths.osd]) await mkdir(folder, { recursive: true });
  const [monPort, rgwPort] = await Promise.all([freePort(), freePort()]);
  const fsid = randomUUID();
  const monAddress = `[v2:127.0.0.1:${monPort}]`;
  await writeFile(paths.conf, cephConf(paths, fsid, monAddress, rgwPort, options.memstoreBytes ?? MEMSTORE_BYTES));
  const ceph = (command: string, args: readonly string[], timeoutMs = COMMAND_TIMEOUT_MS): Promise<string> =>
    run(command, ["--conf", paths.conf, ...args], { timeoutMs }).then((r) => r.stdout);

  const daemons: DaemonProcess[] = [];
  const stop = (): Promise<void> => stopInOrder(daemons);
  const spawnDaemon = (command: string, name: string, args: readonly string[]): DaemonProcess => {
    const daemon = DaemonProcess.spawn({ name, command, args: ["--conf", paths.conf, ...args], logFile: join(paths.log, `${name}.log`) });
    daemons.unshift(daemon); // stopped last-started first
    return daemon;
  };
  try {
    await ceph("monmaptool", ["--create", "--fsid", fsid, "--addv", "a", monAddress, paths.monmap]);
    await ceph("ceph-mon", ["--mkfs", "-i", "a", "--monmap", paths.monmap]);
    const mon = spawnDaemon("ceph-mon", "mon.a", ["-i", "a", "-f"]);
    await mon.waitUntil(async () => (await daemonState(join(paths.run, "mon.a.asok"), "mon_status")) === "leader", READY_TIMEOUT_MS);

    const osdUuid = randomUUID();
    const osdId = (await ceph("ceph", ["osd", "new", osdUuid])).trim();
    if (!/^\d+$/.test(osdId)) throw new Error(`\`ceph osd new\` printed no OSD id: ${osdId}`);
    await mkdir(join(paths.osd, `osd.${osdId}`), { recursive: true });
    await ceph("ceph-osd", ["-i", osdId, "--mkfs", "--osd-uuid", osdUuid]);
    const osd = spawnDaemon("ceph-osd", `osd.${osdId}`, ["-i", osdId, "-f"]);
    // "active" once the OSD has seen itself up in the monitor's OSD map: the gateway can then create its pools.
    await osd.waitUntil(async () => (await daemonState(join(paths.run, `osd.${osdId}.asok`), "status")) === "active", READY_TIMEOUT_MS);

    const rgw = spawnDaemon("radosgw", "client.rgw.a", ["-n", "client.rgw.a", "-f"]);
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await rgw.waitUntil(() => answers200(endpoint), READY_TIMEOUT_MS);
    await ceph("radosgw-admin", ["user", "create", "--uid=lading-e2e", "--display-name=lading e2e", `--access-key=${ACCESS_KEY}`, `--secret-key=${SECRET_KEY}`]);
    return {
      ...withBuckets({ endpoint, accessKey: ACCESS_KEY, secretKey: SECRET_KEY, region: REGION }),
      pids: daemons.flatMap((d) => (d.pid === undefined ? [] : [d.pid])),
      collectGarbage: async () => {
        await ceph("radosgw-admin", ["gc", "process", "--include-all"], GC_TIMEOUT_MS);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

interface CephPaths {
  conf: string;
  monmap: string;
  run: string;
  log: string;
  mon: string;
  osd: string;
}

function cephPaths(dir: string): CephPaths {
  return {
    conf: join(dir, "ceph.conf"),
    monmap: join(dir, "monmap"),
    run: join(dir, "run"),
    log: join(dir, "log"),
    mon: join(dir, "mon"),
    osd: join(dir, "osd"),
  };
}

/**
 * Each setting is explained in the notes; the ones without which it does not work here: crc on the
 * monitor connection (radosgw otherwise wants cephx and hangs), no free-disk floor (the monitor
 * stops below 5% free), short paxos waits (start-up takes ~18 s with the defaults, ~1.5 s with
 * 0.05 s, ~1.1 s with 0.01 s: every pool the gateway creates is a proposal), tcp_nodelay (without
 * it each small request costs ~48 ms).
 */
function cephConf(paths: CephPaths, fsid: string, monAddress: string, rgwPort: number, memstoreBytes: number): string {
  const portMin = randomInt(20_000, 30_000);
  const global = {
    fsid,
    "mon host": monAddress,
    "mon initial members": "a",
    "public addr": "127.0.0.1",
    "cluster addr": "127.0.0.1",
    "ms bind msgr1": "false",
    "ms bind port min": String(portMin),
    "ms bind port max": String(portMin + OSD_PORT_RANGE - 1),
    "auth cluster required": "none",
    "auth service required": "none",
    "auth client required": "none",
    "ms mon client mode": "crc",
    "run dir": paths.run,
    "admin socket": join(paths.run, "$name.asok"),
    "pid file": join(paths.run, "$name.pid"),
    "log file": join(paths.log, "$name.log"),
    keyring: join(paths.run, "keyring"),
    "mon data": join(paths.mon, "$name"),
    "osd data": join(paths.osd, "$name"),
    "osd pool default size": "1",
    "osd pool default min size": "1",
    "osd pool default pg num": "8",
    "osd pool default pgp num": "8",
    "osd pool default pg autoscale mode": "off",
    "osd crush chooseleaf type": "0",
    "mon allow pool size one": "true",
    "mon warn on pool no redundancy": "false",
    "mon data avail crit": "0",
    "paxos propose interval": "0.01",
    "paxos min wait": "0.01",
    "osd objectstore": "memstore",
    "memstore device bytes": String(memstoreBytes),
  };
  // Daemons log to their log file (also the DaemonProcess log): errors on stderr would be written twice.
  const daemon = { "err to stderr": "false" };
  const rgw = { ...daemon, "rgw frontends": `beast endpoint=127.0.0.1:${rgwPort} tcp_nodelay=1`, "rgw gc obj min wait": "60" };
  return [section("global", global), section("mon", daemon), section("osd", daemon), section("client.rgw.a", rgw)].join("\n");
}

function section(name: string, settings: Record<string, string>): string {
  return `[${name}]\n${Object.entries(settings)
    .map(([key, value]) => `${key} = ${value}\n`)
    .join("")}`;
}

async function answers200(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

/**
 * The gateway first, the monitor last: an OSD told to stop first tells the monitor, and the
 * gateway's last requests need the OSD. Each is stopped even when one before it failed to stop.
 */
async function stopInOrder(daemons: readonly DaemonProcess[]): Promise<void> {
  const failures: unknown[] = [];
  for (const daemon of daemons) await daemon.stop(STOP_GRACE_MS).catch((err: unknown) => failures.push(err));
  if (failures.length > 0) throw new AggregateError(failures, "stopping the Ceph daemons");
}
