import * as fs from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { StorageError } from "../driver.js";
import { errnoCode } from "./errno.js";

/**
 * One lading process per filesystem root: the journal and the in-memory state admit no other
 * writer. The claim is a file naming its holder (host, PID namespace, PID), refreshed every few
 * seconds while the holder runs.
 *
 * A holder that this process can see (same host and PID namespace) is asked directly whether it
 * lives: a live one makes the claim fail, a dead one (killed, crashed) is taken over at once, and
 * its journal is replayed next. A holder it cannot see (another host or container sharing the
 * volume) is judged by the claim's age: one refreshed in the last `staleMs` is watched until it
 * either moves (the holder lives: the claim fails) or goes stale (taken over).
 */
export const ownerFile = ".lading-owner";

const refreshMs = 2_000;
const staleMs = 10_000;

interface Holder {
  host: string;
  pidns: string;
  pid: number;
}

export interface Claim {
  release(): Promise<void>;
}

export function claimRoot(root: string): Claim {
  const path = join(root, ownerFile);
  const me: Holder = { host: hostname(), pidns: pidNamespace(), pid: process.pid };
  for (;;) {
    try {
      fs.writeFileSync(path, `${JSON.stringify(me)}\n`, { flag: "wx" });
      break;
    } catch (err) {
      if (errnoCode(err) !== "EEXIST") throw err;
    }
    const found = readClaim(path);
    if (found === undefined) continue; // released meanwhile
    const { holder, mtimeMs } = found;
    const visible = holder !== undefined && holder.host === me.host && holder.pidns === me.pidns;
    if (visible && holder.pid !== me.pid && isAlive(holder.pid)) throw inUse(root, holder, "is running");
    if (!visible && Date.now() - mtimeMs < staleMs && moves(path, mtimeMs)) throw inUse(root, holder, "refreshes its claim");
    // Ours from an earlier driver of this process, or its holder is gone: take it over.
    const tmp = `${path}.${process.pid}`;
    fs.writeFileSync(tmp, `${JSON.stringify(me)}\n`);
    fs.renameSync(tmp, path);
    break;
  }
  const timer = setInterval(() => {
    const now = new Date();
    fs.utimes(path, now, now, () => {});
  }, refreshMs);
  timer.unref();
  return {
    async release() {
      clearInterval(timer);
      await fs.promises.unlink(path).catch(() => {});
    },
  };
}

function readClaim(path: string): { holder: Holder | undefined; mtimeMs: number } | undefined {
  let text: string;
  let mtimeMs: number;
  try {
    text = fs.readFileSync(path, "utf8");
    mtimeMs = fs.statSync(path).mtimeMs;
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return undefined;
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Partial<Holder>;
    if (typeof parsed.host === "string" && typeof parsed.pidns === "string" && Number.isSafeInteger(parsed.pid)) {
      return { holder: parsed as Holder, mtimeMs };
    }
  } catch {
    // Unreadable: judged by its age alone.
  }
  return { holder: undefined, mtimeMs };
}

/** Whether the claim's modification time changes within the staleness window (its holder lives). */
function moves(path: string, mtimeMs: number): boolean {
  const deadline = mtimeMs + staleMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (Date.now() < deadline) {
    Atomics.wait(pause, 0, 0, 250);
    try {
      if (fs.statSync(path).mtimeMs !== mtimeMs) return true;
    } catch {
      return false;
    }
  }
  return false;
}

function inUse(root: string, holder: Holder | undefined, why: string): StorageError {
  const who = holder ? `process ${holder.pid} on ${holder.host}` : "another process";
  return new StorageError(`filesystem: storage root ${root} is in use: ${who} ${why} (one lading process per root)`, "filesystem");
}

function pidNamespace(): string {
  try {
    return fs.readlinkSync("/proc/self/ns/pid");
  } catch {
    return "";
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === "EPERM";
  }
}
