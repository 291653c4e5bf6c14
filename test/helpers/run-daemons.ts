/**
 * Where the daemons of the end-to-end tests come from. `npm test` starts one dockerd, one
 * containerd and one S3 gateway (./ceph.ts) for the whole run (../with-daemons.ts) and names them
 * in the environment variables below; a test file run alone (`node --test dist/test/e2e/x.test.js`)
 * finds none and starts a private daemon, stopped when the file is done. Either way the test code
 * is the same.
 *
 * The variables are not LADING_*: `lading serve` reads every LADING_* variable as a setting and
 * refuses the ones it does not know.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import type { DaemonProcess } from "./daemon-process.js";

/** The folder holding the run's daemons (sockets, state, logs). */
export const DAEMONS_DIR_VAR = "E2E_DAEMONS_DIR";
/** dockerd's API, as DOCKER_HOST takes it: unix:///.../docker.sock */
export const DOCKER_HOST_VAR = "E2E_DOCKER_HOST";
/** containerd's socket path, as `ctr -a` takes it. */
export const CONTAINERD_ADDRESS_VAR = "E2E_CONTAINERD_ADDRESS";
/** The S3 gateway's URL (http://127.0.0.1:PORT), and who to be there. */
export const S3_ENDPOINT_VAR = "E2E_S3_ENDPOINT";
export const S3_ACCESS_KEY_VAR = "E2E_S3_ACCESS_KEY";
export const S3_SECRET_KEY_VAR = "E2E_S3_SECRET_KEY";
export const S3_REGION_VAR = "E2E_S3_REGION";

export interface StartedDaemon {
  daemon: DaemonProcess;
  /** What clients are given to reach it (DOCKER_HOST, or ctr's -a). */
  address: string;
}

/** The longest TMPDIR used as is: socket paths under it (containerd's own nest deepest) must stay under 108 bytes. */
const MAX_TMPDIR_LENGTH = 40;

/** A fresh, short-pathed folder for daemons. */
export async function makeDaemonsDir(): Promise<string> {
  const base = tmpdir().length <= MAX_TMPDIR_LENGTH ? tmpdir() : "/tmp";
  return mkdtemp(join(base, "lading-d-"));
}

/** Removes a daemons folder once its daemons have exited (KEEP_E2E_SCRATCH=1 keeps it). */
export async function removeDaemonsDir(dir: string): Promise<void> {
  if (process.env["KEEP_E2E_SCRATCH"] === "1") {
    process.stderr.write(`keeping daemons directory ${dir}\n`);
    return;
  }
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/**
 * The address of the run's daemon named by `variable`, or of a private one `start` makes in a
 * folder of its own, stopped and removed by an `after` hook. Call it at the top level of a test
 * file (top-level await): only there does `after` attach to the whole file; inside a `before` hook
 * it would run as soon as that hook is done.
 */
export async function runOrPrivateDaemon(variable: string, start: (dir: string) => Promise<StartedDaemon>): Promise<{ address: string; shared: boolean }> {
  const shared = process.env[variable];
  if (shared !== undefined && shared !== "") return { address: shared, shared: true };
  const dir = await makeDaemonsDir();
  let started: StartedDaemon;
  try {
    started = await start(dir);
  } catch (err) {
    await removeDaemonsDir(dir);
    throw err;
  }
  after(async () => {
    await started.daemon.stop();
    await removeDaemonsDir(dir);
  });
  return { address: started.address, shared: false };
}
