/**
 * Support for the end-to-end tests of access control with real clients: the users, groups, robot
 * and policy every such test uses, written with lading's own Htpasswd, Groups and Robots classes;
 * lading with access control in process or as `lading serve` (a child process, stopped by its
 * PID); a small image built offline; skopeo with credentials; the lading CLI; and a self-signed
 * certificate for TLS.
 *
 * The users: `admin` (group admin: every action everywhere, the user of seed 002), `alice` (group
 * dev: pull and push on team/**), `bob` (pull on team/**), `mallory` (nothing; the throttle's
 * victim), and the robot `ci` (pull and push on team/*). public/** is open to everyone for pull.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Groups } from "../../src/auth/groups.js";
import { Htpasswd } from "../../src/auth/htpasswd.js";
import { Robots } from "../../src/auth/robots.js";
import { startTestServer } from "../api/support.js";
import { CommandError, run, type RunResult } from "../helpers/exec.js";
import { runForStatus, type StatusResult } from "../helpers/exec-status.js";
import { privateMountsAllowed, withPrivateVarLib } from "../helpers/private-var-lib.js";
import { startLading, type RunningRegistry } from "../helpers/registries.js";
import type { Scratch } from "../helpers/scratch.js";
import { addLayer, initLayout, newImage } from "../helpers/umoci.js";

export type Mode = "basic" | "token";
export const MODES: readonly Mode[] = ["basic", "token"];

/** Seed 002's admin signs in as admin/admin; the others have passwords that appear nowhere else. */
export const PASSWORDS = {
  admin: "admin",
  alice: "alice-e2e-Jq7v9",
  bob: "bob-e2e-Lw3x5",
  mallory: "mallory-e2e-Rt8k2",
} as const;
export type User = keyof typeof PASSWORDS;

export const POLICY = [
  { repositories: ["team/**"], groups: ["dev"], actions: ["pull", "push"] },
  { repositories: ["team/**"], users: ["bob"], actions: ["pull"] },
  { repositories: ["public/**"], anonymous: true, users: ["*"], actions: ["pull"] },
];

/** The token service's names (auth.token.service and issuer). */
export const SERVICE = "lading-e2e";

export interface AuthFiles {
  htpasswd: string;
  groups: string;
  robots: string;
  /** The robot `ci`'s secret: what a CI job gives as its password, with any username. */
  robotSecret: string;
}

/** Writes the users, groups and robot into `dir` (htpasswd, htpasswd.groups, htpasswd.robots). */
export async function writeAuthFiles(dir: string): Promise<AuthFiles> {
  const htpasswd = join(dir, "htpasswd");
  const files = { htpasswd, groups: `${htpasswd}.groups`, robots: `${htpasswd}.robots` };
  const users = Htpasswd.parse("", htpasswd);
  for (const [user, password] of Object.entries(PASSWORDS)) await users.setPassword(user, password);
  await users.save(files.htpasswd);
  const groups = Groups.parse("", files.groups);
  groups.set("admin", ["admin"]);
  groups.set("alice", ["dev"]);
  await groups.save(files.groups);
  const robots = Robots.parse("", files.robots);
  const robotSecret = robots.create({ name: "ci", repositories: ["team/*"], actions: ["pull", "push"] });
  await robots.save(files.robots);
  return { ...files, robotSecret };
}

/** The settings of a registry with access control in `mode`, as dotted keys. */
export function authSettings(mode: Mode, files: AuthFiles, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    "auth.htpasswd.path": files.htpasswd,
    ...(mode === "token" ? { "auth.token": { service: SERVICE, issuer: SERVICE } } : {}),
    "lading.auth.rules": POLICY,
    ...extra,
  };
}

export interface AuthRegistry {
  mode: Mode;
  /** 127.0.0.1:PORT, as image references name it. */
  host: string;
  files: AuthFiles;
  ref(repository: string): string;
  close(): Promise<void>;
}

/** lading in this process, on 127.0.0.1:0, with access control in `mode` over `dir/store`. */
export async function startAuthRegistry(mode: Mode, dir: string, files: AuthFiles, extra: Record<string, unknown> = {}): Promise<AuthRegistry> {
  const server = await startTestServer(authSettings(mode, files, extra), join(dir, "store"));
  const host = `127.0.0.1:${server.port}`;
  return { mode, host, files, ref: (repository) => `${host}/${repository}`, close: () => server.close() };
}

export interface ServedRegistry extends AuthRegistry {
  /** The child process: its output (every log line) and its PID. */
  server: RunningRegistry;
}

/**
 * `lading serve` as a child process on 127.0.0.1:0 with access control in `mode`: the settings go
 * in a config file (JSON is YAML), `args` are more flags (e.g. --log-level debug, --tls-cert).
 */
export async function serveAuthRegistry(mode: Mode, dir: string, files: AuthFiles, extra: Record<string, unknown> = {}, args: readonly string[] = []): Promise<ServedRegistry> {
  const config = join(dir, `lading-${mode}.yml`);
  await writeFile(config, `${JSON.stringify(nest(authSettings(mode, files, extra)), null, 2)}\n`);
  await mkdir(join(dir, "store"), { recursive: true });
  const server = await startLading(join(dir, "store"), ["--config", config, ...args]);
  return { mode, host: server.host, files, server, ref: (repository) => `${server.host}/${repository}`, close: () => server.stop() };
}

/** Dotted keys to the nested document a config file holds. */
function nest(flat: Record<string, unknown>): Record<string, unknown> {
  const doc: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flat)) {
    const parts = key.split(".");
    let node = doc;
    for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
    node[parts[parts.length - 1]!] = value;
  }
  return doc;
}

/** An OCI layout holding one small image, tagged `tag`: what the clients push first. */
export async function buildLayout(scratch: Scratch, tag = "hello"): Promise<string> {
  const layout = scratch.path("layout");
  await initLayout(layout);
  await newImage(layout, "empty");
  await addLayer(layout, "empty", tag, { "hello.txt": "hello from an access-controlled lading\n" }, await scratch.dir("umoci-work"));
  return layout;
}

/**
 * skopeo with everything private to the test (no registries.conf, no signature policy lookups,
 * its blob-info cache in a scratch /var/lib where allowed) and credentials given per call.
 */
export class SkopeoClient {
  private constructor(
    /** An empty auth file: for commands given credentials by flag, so no stored login is read. */
    readonly noAuthfile: string,
    private readonly globalArgs: readonly string[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly varLib: string | undefined,
  ) {}

  static async create(scratch: Scratch, label = "skopeo"): Promise<SkopeoClient> {
    const noAuthfile = scratch.path(label, "no-auth.json");
    const policy = scratch.path(label, "policy.json");
    const registriesConf = scratch.path(label, "registries.conf");
    const registriesD = await scratch.dir(label, "registries.d");
    const tmp = await scratch.dir(label, "tmp");
    await writeFile(policy, JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
    await writeFile(registriesConf, "");
    await writeFile(noAuthfile, "{}\n");
    const env: NodeJS.ProcessEnv = { ...process.env, CONTAINERS_REGISTRIES_CONF: registriesConf, TMPDIR: tmp };
    delete env["REGISTRY_AUTH_FILE"];
    delete env["DOCKER_CONFIG"];
    const varLib = privateMountsAllowed() ? await scratch.dir(label, "var-lib") : undefined;
    return new SkopeoClient(noAuthfile, ["--policy", policy, "--registries.d", registriesD, "--tmpdir", tmp], env, varLib);
  }

  /** Rejects with a CommandError (stderr included) unless skopeo exits 0; `input` goes to stdin (--password-stdin). */
  run(args: readonly string[], input?: string): Promise<RunResult> {
    const [cmd, cmdArgs] = withPrivateVarLib(this.varLib, "skopeo", [...this.globalArgs, ...args]);
    return run(cmd, cmdArgs, { env: this.env, ...(input === undefined ? {} : { input }) });
  }

  /** A non-zero exit is returned, not thrown: refusals are under test too. */
  status(args: readonly string[]): Promise<StatusResult> {
    const [cmd, cmdArgs] = withPrivateVarLib(this.varLib, "skopeo", [...this.globalArgs, ...args]);
    return runForStatus(cmd, cmdArgs, { env: this.env });
  }
}

/** `user:password`, as --creds and ctr's --user take it. */
export function creds(user: string, password: string): string {
  return `${user}:${password}`;
}

/** Runs `work`, which must fail with a CommandError; returns what the program printed. */
export async function refused(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (err) {
    if (err instanceof CommandError && err.signal === null && err.exitCode !== 0) return `${err.stderr}\n${err.stdout}`;
    throw err;
  }
  throw new Error("the command succeeded; it should have been refused");
}

/** dist/test/e2e/auth-support.js → dist/src/cli/main.js */
export const LADING_MAIN = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

/**
 * The lading CLI with a private environment: no LADING_* settings, stored credentials only under
 * `home`. `input` reaches it through a pipe, as from a shell (`echo $PASSWORD | lading login
 * --password-stdin`): `lading login` opens /dev/stdin, which fails on the socket that Node's
 * child_process gives a child for stdin (ENXIO), so `cat` stands between.
 */
export function ladingCli(home: string): (args: readonly string[], input?: string) => Promise<StatusResult> {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("LADING_")));
  for (const name of ["REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR"]) delete env[name];
  Object.assign(env, { HOME: home, DOCKER_CONFIG: join(home, ".docker"), XDG_CONFIG_HOME: join(home, ".config") });
  return (args, input) => {
    if (input === undefined) return runForStatus(process.execPath, [LADING_MAIN, ...args], { env });
    return runForStatus("sh", ["-c", 'cat | "$@"', "sh", process.execPath, LADING_MAIN, ...args], { env, input });
  };
}

export interface Certificate {
  cert: string;
  key: string;
  /** A folder holding the certificate as ca.crt: what --cert-dir takes. */
  certDir: string;
}

/** A self-signed certificate for 127.0.0.1 (EC P-256: made in milliseconds). */
export async function selfSignedCertificate(scratch: Scratch): Promise<Certificate> {
  const certDir = await scratch.dir("tls", "certs.d");
  const cert = join(certDir, "ca.crt");
  const key = scratch.path("tls", "key.pem");
  await run("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=lading-e2e",
    "-addext", "subjectAltName=IP:127.0.0.1",
  ]);
  return { cert, key, certDir };
}

export interface LoggedRequest {
  method: string;
  path: string;
  status: number;
}

/** The requests a served registry has logged so far (its access log, one JSON line each). */
export function loggedRequests(registry: ServedRegistry): LoggedRequest[] {
  const requests: LoggedRequest[] = [];
  for (const line of registry.server.process.logs().split("\n")) {
    if (!line.startsWith("{")) continue;
    const entry = JSON.parse(line) as { msg?: string; method?: string; path?: string; status?: number };
    if (entry.msg === "request" && entry.method !== undefined && entry.path !== undefined && entry.status !== undefined) {
      requests.push({ method: entry.method, path: entry.path, status: entry.status });
    }
  }
  return requests;
}
