import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { as, basic, bearer, passwords, startAuthServer, type AuthServer } from "./support.js";
import { mt, pushImage, request, type PushedImage, type TestServer } from "../api/support.js";

/*
 * Every principal × repository × action × endpoint, against the expected table, in basic and in
 * token mode. An allowed action must succeed; a refused one must be refused the way its clients
 * expect: the anonymous and bearer callers with a 401 challenge, signed-in Basic callers with 403.
 */

type Action = "pull" | "push" | "delete";
type Who = "anonymous" | "alice" | "bob" | "carol" | "robot" | "wrong";
const repositories = ["team/app", "public/base", "private/secret"] as const;

const expected: Record<Who, Record<(typeof repositories)[number], Action[]>> = {
  anonymous: { "team/app": [], "public/base": ["pull"], "private/secret": [] },
  alice: { "team/app": ["pull", "push", "delete"], "public/base": ["pull"], "private/secret": [] },
  bob: { "team/app": ["pull"], "public/base": ["pull"], "private/secret": [] },
  carol: { "team/app": ["pull", "push", "delete"], "public/base": ["pull", "push", "delete"], "private/secret": ["pull", "push", "delete"] },
  robot: { "team/app": ["pull", "push"], "public/base": [], "private/secret": [] },
  wrong: { "team/app": [], "public/base": [], "private/secret": [] },
};

/** One endpoint exercising an action; returns the status seen. */
type Probe = (server: TestServer, repo: string, image: PushedImage, admin: TestServer) => Promise<number>;

const probes: Record<Action, Record<string, Probe>> = {
  pull: {
    "GET manifest": async (s, repo) => (await request(s, "GET", `/v2/${repo}/manifests/v1`, { headers: { Accept: mt.ociManifest } })).status,
    "HEAD manifest": async (s, repo) => (await request(s, "HEAD", `/v2/${repo}/manifests/v1`, { headers: { Accept: mt.ociManifest } })).status,
    "GET blob": async (s, repo, image) => (await request(s, "GET", `/v2/${repo}/blobs/${image.layers[0]!.digest}`)).status,
    "GET tags": async (s, repo) => (await request(s, "GET", `/v2/${repo}/tags/list`)).status,
    "GET referrers": async (s, repo, image) => (await request(s, "GET", `/v2/${repo}/referrers/${image.digest}`)).status,
  },
  push: {
    "POST upload": async (s, repo) => {
      const reply = await request(s, "POST", `/v2/${repo}/blobs/uploads/`);
      if (reply.status === 202) assert.equal((await request(s, "DELETE", reply.header("location")!)).status, 204);
      return reply.status;
    },
    "PUT manifest": async (s, repo, image) => (await request(s, "PUT", `/v2/${repo}/manifests/copy`, { body: image.body, headers: { "Content-Type": mt.ociManifest } })).status,
  },
  delete: {
    "DELETE manifest": async (s, repo, _, admin) => {
      const doomed = await pushImage(admin, repo, "doomed");
      return (await request(s, "DELETE", `/v2/${repo}/manifests/${doomed.digest}`)).status;
    },
  },
};

const successes: Record<string, number> = { "POST upload": 202, "PUT manifest": 201, "DELETE manifest": 202 };
const allActions: Action[] = ["pull", "push", "delete"];

for (const mode of ["basic", "token"] as const) {
  describe(`access matrix, ${mode} auth`, () => {
    let server: AuthServer;
    let admin: TestServer;
    const images = new Map<string, PushedImage>();
    before(async () => {
      // The throttle has tests of its own; here every wrong password must meet the plain 401.
      server = await startAuthServer(mode, { "lading.auth.throttle": { attempts: 1000, peraddress: 1000 } });
      admin = as(server, basic("carol", passwords.carol!));
      if (mode === "token") admin = as(server, await bearer(server, repositories.map((r) => `repository:${r}:pull,push,delete`), basic("carol", passwords.carol!)));
      for (const repo of repositories) images.set(repo, await pushImage(admin, repo, "v1"));
    });
    after(() => server.close());

    const credentials = (who: Who): Record<string, string> => {
      if (who === "anonymous") return {};
      if (who === "robot") return basic("ci", server.robotSecret);
      if (who === "wrong") return basic("alice", "not-her-password");
      return basic(who, passwords[who]!);
    };

    for (const who of Object.keys(expected) as Who[]) {
      for (const repo of repositories) {
        for (const action of allActions) {
          const allowed = expected[who][repo].includes(action);
          it(`${who} ${allowed ? "may" : "may not"} ${action} ${repo}`, async () => {
            let caller: TestServer;
            if (mode === "basic" || who === "anonymous") caller = as(server, credentials(who));
            else if (who === "wrong") {
              const reply = await request(server, "GET", `/token?service=test-registry&scope=repository:${repo}:${action}`, { headers: credentials(who) });
              assert.equal(reply.status, 401, "a token for a wrong password");
              return;
            } else caller = as(server, await bearer(server, [`repository:${repo}:${action === "push" ? "pull,push" : action}`], credentials(who)));
            for (const [endpoint, probe] of Object.entries(probes[action])) {
              const status = await probe(caller, repo, images.get(repo)!, admin);
              const what = `${who} ${endpoint} ${repo} (${mode})`;
              if (allowed) assert.equal(status, successes[endpoint] ?? 200, what);
              else if (who === "anonymous" || who === "wrong" || mode === "token") assert.equal(status, 401, what);
              else assert.equal(status, 403, what);
            }
          });
        }
      }
    }
  });
}
