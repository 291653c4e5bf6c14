import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Groups } from "../../src/auth/groups.js";
import { Htpasswd } from "../../src/auth/htpasswd.js";
import { Robots } from "../../src/auth/robots.js";
import { request, startTestServer, type Reply, type TestServer } from "../api/support.js";

/*
 * A registry with access control for the auth tests: users in a real htpasswd file, groups, a
 * robot, and a policy, in basic or token mode.
 */

export const passwords: Record<string, string> = { alice: "alice-secret", bob: "bob-secret", carol: "carol-secret" };

/** alice is a developer, bob a reader, carol an admin; the robot pushes to team/*. */
export const policy = [
  { repositories: ["team/**"], groups: ["dev"], actions: ["pull", "push"] },
  { repositories: ["team/**"], users: ["alice"], actions: ["delete"] },
  { repositories: ["team/**"], users: ["bob"], actions: ["pull"] },
  { repositories: ["public/**"], anonymous: true, users: ["*"], actions: ["pull"] },
];

export interface AuthServer extends TestServer {
  dir: string;
  robotSecret: string;
  files: { htpasswd: string; groups: string; robots: string; audit: string };
}

export async function startAuthServer(mode: "basic" | "token", overrides: Record<string, unknown> = {}): Promise<AuthServer> {
  const dir = await mkdtemp(join(tmpdir(), "lading-auth-"));
  const files = { htpasswd: join(dir, "htpasswd"), groups: join(dir, "htpasswd.groups"), robots: join(dir, "htpasswd.robots"), audit: join(dir, "audit.log") };
  const users = await Htpasswd.load(files.htpasswd, { missingOk: true });
  for (const [user, password] of Object.entries(passwords)) await users.setPassword(user, password);
  await users.save(files.htpasswd);
  const groups = Groups.parse("", files.groups);
  groups.set("alice", ["dev"]);
  groups.set("carol", ["admin"]);
  await groups.save(files.groups);
  const robots = Robots.parse("", files.robots);
  const robotSecret = robots.create({ name: "ci", repositories: ["team/*"], actions: ["pull", "push"] });
  await robots.save(files.robots);
  const server = await startTestServer({
    "auth.htpasswd.path": files.htpasswd,
    ...(mode === "token" ? { "auth.token": { service: "test-registry", issuer: "test-issuer" } } : {}),
    "lading.auth.rules": policy,
    "lading.auth.audit.path": files.audit,
    ...overrides,
  }, join(dir, "store"));
  return {
    ...server,
    dir,
    robotSecret,
    files,
    close: async () => {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function basic(user: string, password: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` };
}

/** A view of the server that sends these headers with every request. */
export function as(server: TestServer, headers: Record<string, string>): TestServer {
  return { ...server, headers };
}

/** GET /token for these scopes, with Basic credentials or none. */
export async function getToken(server: TestServer, scopes: string[], credentials: Record<string, string> = {}, extra = ""): Promise<Reply> {
  const query = new URLSearchParams({ service: "test-registry" });
  for (const scope of scopes) query.append("scope", scope);
  return request(server, "GET", `/token?${query}${extra}`, { headers: credentials });
}

export async function bearer(server: TestServer, scopes: string[], credentials: Record<string, string> = {}): Promise<Record<string, string>> {
  const reply = await getToken(server, scopes, credentials);
  if (reply.status !== 200) throw new Error(`token request failed: ${reply.status} ${reply.text()}`);
  return { Authorization: `Bearer ${reply.json<{ token: string }>().token}` };
}

/** The `access` claim of a JWT (read without verification: the server verified it). */
export function accessOf(token: string): Array<{ type: string; name: string; actions: string[] }> {
  const payload = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8")) as { access: Array<{ type: string; name: string; actions: string[] }> };
  return payload.access;
}

export function challengeOf(reply: Reply): string {
  return reply.header("www-authenticate") ?? "";
}
