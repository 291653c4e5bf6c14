import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ClientError } from "./errors.js";
import { helperErase, helperGet, helperStore, runHelper, type HelperRunner } from "./credential-helper.js";
import { dockerHub } from "./reference.js";

export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (docker's "identitytoken"), traded at the token endpoint. */
  identityToken?: string;
  /** A bearer token to send as is. */
  registryToken?: string;
}

export interface AuthConfigOptions {
  /** Only this file (like `--authfile`); otherwise the usual docker and podman places. */
  authFile?: string;
  env?: NodeJS.ProcessEnv;
  home?: string;
  runHelper?: HelperRunner;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}

interface ConfigFile {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [other: string]: unknown;
}

/** Files consulted, most specific first: podman's auth.json, then docker's config.json. */
export function authFiles(options: AuthConfigOptions = {}): string[] {
  if (options.authFile !== undefined) return [options.authFile];
  const env = options.env ?? process.env;
  const home = options.home ?? os.homedir();
  const files: string[] = [];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) files.push(path.join(env.XDG_RUNTIME_DIR, "containers", "auth.json"));
  files.push(path.join(env.XDG_CONFIG_HOME ?? path.join(home, ".config"), "containers", "auth.json"));
  files.push(dockerConfigPath(options));
  return files;
}

export function dockerConfigPath(options: AuthConfigOptions = {}): string {
  if (options.authFile !== undefined) return options.authFile;
  const env = options.env ?? process.env;
  return path.join(env.DOCKER_CONFIG ?? path.join(options.home ?? os.homedir(), ".docker"), "config.json");
}

/** `https://index.docker.io/v1/` → `docker.io`; `http://host:5000/v2/` → `host:5000`; `quay.io/org` stays. */
export function normalizeAuthKey(key: string): string {
  let k = key.replace(/^[a-z]+:\/\//i, "").replace(/\/+$/, "");
  k = k.replace(/\/v[12]$/, "");
  const host = k.split("/")[0]!;
  if (host === "index.docker.io" || host === "registry-1.docker.io") k = dockerHub + k.slice(host.length);
  return k;
}

/** The key docker writes for a registry (Docker Hub keeps its historical URL). */
export function serverUrlFor(registry: string): string {
  return registry === dockerHub ? "https://index.docker.io/v1/" : registry;
}

async function readConfig(file: string): Promise<ConfigFile | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new ClientError(`reading ${file}`, { cause: err });
  }
  try {
    const json: unknown = JSON.parse(text);
    if (typeof json !== "object" || json === null || Array.isArray(json)) throw new Error("not a JSON object");
    return json as ConfigFile;
  } catch (err) {
    throw new ClientError(`${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

function fromEntry(entry: AuthEntry): Credentials | undefined {
  const creds: Credentials = {};
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon > 0) {
      creds.username = decoded.slice(0, colon);
      creds.password = decoded.slice(colon + 1);
    }
  }
  if (entry.username !== undefined) creds.username = entry.username;
  if (entry.password !== undefined) creds.password = entry.password;
  if (entry.identitytoken) creds.identityToken = entry.identitytoken;
  if (entry.registrytoken) creds.registryToken = entry.registrytoken;
  return Object.keys(creds).length > 0 ? creds : undefined;
}

/** Looks up credentials for a repository: the longest matching `auths` key (podman allows `host/namespace`). */
function matchEntry(auths: Record<string, AuthEntry>, registry: string, repository: string | undefined): AuthEntry | undefined {
  const wanted = new Map<string, number>([[registry, 0]]);
  if (repository !== undefined) {
    const parts = repository.split("/");
    for (let i = 1; i <= parts.length; i++) wanted.set(`${registry}/${parts.slice(0, i).join("/")}`, i);
  }
  let best: { entry: AuthEntry; rank: number } | undefined;
  for (const [key, entry] of Object.entries(auths)) {
    const rank = wanted.get(normalizeAuthKey(key));
    if (rank !== undefined && (best === undefined || rank > best.rank)) best = { entry, rank };
  }
  return best?.entry;
}

export async function findCredentials(registry: string, repository?: string, options: AuthConfigOptions = {}): Promise<Credentials | undefined> {
  const run = options.runHelper ?? runHelper;
  for (const file of authFiles(options)) {
    const config = await readConfig(file);
    if (!config) continue;
    const helper = Object.entries(config.credHelpers ?? {}).find(([k]) => normalizeAuthKey(k) === registry)?.[1] ?? config.credsStore;
    if (helper) {
      const got = await helperGet(run, helper, serverUrlFor(registry));
      if (got) return got.Username === "<token>" ? { identityToken: got.Secret } : { username: got.Username, password: got.Secret };
    }
    const entry = config.auths ? matchEntry(config.auths, registry, repository) : undefined;
    const creds = entry ? fromEntry(entry) : undefined;
    if (creds) return creds;
  }
  return undefined;
}

/** Saves credentials the way docker does: to the registry's helper when one is configured, else base64 in `auths`. */
export async function storeCredentials(registry: string, username: string, password: string, options: AuthConfigOptions = {}): Promise<string> {
  const file = dockerConfigPath(options);
  const config = (await readConfig(file)) ?? {};
  const helper = config.credHelpers?.[registry] ?? config.credsStore;
  if (helper) {
    await helperStore(options.runHelper ?? runHelper, helper, { ServerURL: serverUrlFor(registry), Username: username, Secret: password });
    return `credential helper docker-credential-${helper}`;
  }
  const auths = { ...config.auths };
  for (const key of Object.keys(auths)) if (normalizeAuthKey(key) === registry) delete auths[key];
  auths[serverUrlFor(registry)] = { auth: Buffer.from(`${username}:${password}`).toString("base64") };
  await writeConfig(file, { ...config, auths });
  return file;
}

/** Removes a registry's credentials; returns false when there were none. */
export async function eraseCredentials(registry: string, options: AuthConfigOptions = {}): Promise<boolean> {
  const file = dockerConfigPath(options);
  const config = await readConfig(file);
  if (!config) return false;
  const helper = config.credHelpers?.[registry] ?? config.credsStore;
  if (helper) await helperErase(options.runHelper ?? runHelper, helper, serverUrlFor(registry));
  const auths = { ...config.auths };
  const keys = Object.keys(auths).filter((k) => normalizeAuthKey(k) === registry);
  for (const key of keys) delete auths[key];
  if (keys.length > 0) await writeConfig(file, { ...config, auths });
  return keys.length > 0 || helper !== undefined;
}

/** Written atomically and private: the file holds secrets. */
async function writeConfig(file: string, config: ConfigFile): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(config, null, "\t")}\n`, { mode: 0o600 });
  await rename(tmp, file);
}
