import { spawn } from "node:child_process";
import { ClientError } from "./errors.js";

/** What a docker-credential-* helper speaks on stdin/stdout (docker-credential-helpers protocol). */
export interface HelperCredentials {
  ServerURL?: string;
  Username: string;
  Secret: string;
}

/** Runs `docker-credential-NAME ACTION` with `input` on stdin; resolves with stdout, rejects with its stderr. */
export type HelperRunner = (name: string, action: "get" | "store" | "erase", input: string) => Promise<string>;

export const runHelper: HelperRunner = (name, action, input) =>
  new Promise((resolve, reject) => {
    const child = spawn(`docker-credential-${name}`, [action], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (err += d.toString("utf8")));
    child.on("error", (e) => reject(new ClientError(`credential helper docker-credential-${name}: ${e.message}`, { cause: e })));
    child.on("close", (code) => {
      if (code === 0) resolve(out);
      else reject(new ClientError(`credential helper docker-credential-${name} ${action}: ${(err || out).trim() || `exit ${code}`}`));
    });
    child.stdin.end(input);
  });

const notFound = /credentials not found/i;

export async function helperGet(run: HelperRunner, name: string, serverUrl: string): Promise<HelperCredentials | undefined> {
  let out: string;
  try {
    out = await run(name, "get", serverUrl);
  } catch (err) {
    if (err instanceof Error && notFound.test(err.message)) return undefined;
    throw err;
  }
  const json: unknown = JSON.parse(out);
  if (typeof json !== "object" || json === null) throw new ClientError(`credential helper ${name} printed no credentials object`);
  const { Username, Secret } = json as Record<string, unknown>;
  if (typeof Username !== "string" || typeof Secret !== "string") throw new ClientError(`credential helper ${name} printed no Username/Secret`);
  return { ServerURL: serverUrl, Username, Secret };
}

export async function helperStore(run: HelperRunner, name: string, creds: HelperCredentials): Promise<void> {
  await run(name, "store", JSON.stringify(creds));
}

export async function helperErase(run: HelperRunner, name: string, serverUrl: string): Promise<void> {
  try {
    await run(name, "erase", serverUrl);
  } catch (err) {
    if (!(err instanceof Error && notFound.test(err.message))) throw err;
  }
}
