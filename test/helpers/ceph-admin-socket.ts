/**
 * Asking a running Ceph daemon about itself over its admin socket, as `ceph daemon NAME CMD` does
 * (ceph_daemon.py) without starting Python: the command as JSON and a NUL byte, answered with a
 * 4-byte big-endian length and that many bytes of JSON. Cheap enough to poll while a daemon starts.
 */
import { connect } from "node:net";

/** The daemon's answer to `{"prefix": prefix}`, parsed; rejects when the socket is not there yet. */
export function adminSocketCommand(socketPath: string, prefix: string, timeoutMs = 2000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    const chunks: Buffer[] = [];
    let received = 0;
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`${socketPath}: no answer to ${prefix} within ${timeoutMs} ms`)));
    socket.on("error", reject);
    socket.on("connect", () => socket.write(`${JSON.stringify({ prefix })}\0`));
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      const all = Buffer.concat(chunks, received);
      if (all.length < 4 || all.length < 4 + all.readUInt32BE(0)) return;
      socket.destroy();
      try {
        resolve(JSON.parse(all.subarray(4, 4 + all.readUInt32BE(0)).toString("utf8")));
      } catch (err) {
        reject(new Error(`${socketPath}: ${prefix} answered with something other than JSON`, { cause: err }));
      }
    });
    socket.on("end", () => reject(new Error(`${socketPath}: connection closed before ${prefix} was answered`)));
  });
}

/** The `state` field of the daemon's answer to `prefix`, or undefined while it cannot answer. */
export async function daemonState(socketPath: string, prefix: string): Promise<string | undefined> {
  try {
    const answer = await adminSocketCommand(socketPath, prefix);
    const state = typeof answer === "object" && answer !== null ? (answer as { state?: unknown }).state : undefined;
    return typeof state === "string" ? state : undefined;
  } catch {
    return undefined;
  }
}
