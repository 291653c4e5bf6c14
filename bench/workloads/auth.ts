/**
 * Reads behind access control: manifest HEAD and GET by tag and blob HEAD, over `authItems`
 * manifests and small blobs, the same requests in three modes, each its own workload (a server on
 * fresh storage, so a round interleaves them with the reference like any other):
 * - anonymous: no access control, both registries: the baseline the costs are measured against;
 * - basic: Basic credentials on every request, the user in an htpasswd file, both registries;
 * - bearer: a token asked once of lading's /token with those credentials, as docker does, then
 *   sent on every request: lading alone, since the reference's token mode needs an external
 *   token server.
 * The set-up pushes sign in the same way as the reads.
 */
import { randomBytes } from "node:crypto";
import bcrypt from "bcryptjs";
import { BlobSource, sha256 } from "../data.js";
import { call, expectStatus, runPool, withAuthorization } from "../http.js";
import { fetchManifest, headBlob, pushBytes, putManifest, type Target } from "../protocol.js";
import { warmUp, type Workload, type WorkloadContext } from "../scenarios.js";
import type { ServerAccess } from "../servers.js";
import { distinctManifest, seedImage } from "./images.js";

type Mode = "anonymous" | "basic" | "bearer";

const repo = "bench/auth";
const user = "bench";
/** Fresh for each run: it guards only throwaway servers on 127.0.0.1. */
const password = randomBytes(18).toString("base64url");
const basic = `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
/** The cost `htpasswd -B -C 10` writes, the reference's users' typical entry (`lading user` writes 12). */
const bcryptCost = 10;
/**
 * lading's policy: one rule, as a deployment has some, so that its figure includes the policy's
 * look-up. The reference has no policy: every signed-in user may do everything.
 */
const rules = [{ repositories: ["bench/**"], users: [user], actions: ["pull", "push"] }];

/** bcrypt once per run (about 0.1 s): every server of the run gets the same file. */
let htpasswd: Promise<string> | undefined;

function serverAccess(mode: ServerAccess["mode"]): Promise<ServerAccess> {
  htpasswd ??= bcrypt.hash(password, bcryptCost).then((hash) => `${user}:${hash}\n`);
  return htpasswd.then((text) => ({ htpasswd: text, mode, rules }));
}

/** A bearer token for `actions` on the repository, from lading's own /token, signed in with Basic. */
async function bearerToken(ctx: WorkloadContext, actions: string): Promise<string> {
  const url = `${ctx.server.url}/token?scope=${encodeURIComponent(`repository:${repo}:${actions}`)}`;
  const reply = expectStatus(await call({ method: "GET", url, agent: ctx.agent, headers: { authorization: basic } }), `GET /token for ${actions}`, 200);
  const { token } = JSON.parse(reply.body.toString("utf8")) as { token?: unknown };
  if (typeof token !== "string") throw new Error(`GET /token for ${actions}: no token in the answer`);
  return `Bearer ${token}`;
}

/** The Authorization header of the set-up pushes and of the reads (a pull-only token, as docker pull asks for). */
async function credentials(ctx: WorkloadContext, mode: Mode): Promise<{ push: string | undefined; pull: string | undefined }> {
  if (mode === "anonymous") return { push: undefined, pull: undefined };
  if (mode === "basic") return { push: basic, pull: basic };
  return { push: await bearerToken(ctx, "pull,push"), pull: await bearerToken(ctx, "pull") };
}

export function authWorkload(mode: Mode): Workload {
  return {
    name: `auth-${mode}`,
    ...(mode === "anonymous" ? {} : { access: () => serverAccess(mode === "basic" ? "basic" : "token") }),
    async run(ctx) {
      const { opts } = ctx;
      const n = opts.authItems;
      const { push, pull } = await credentials(ctx, mode);
      const writer: Target = { base: ctx.server.url, agent: withAuthorization(ctx.agent, push) };
      const image = await seedImage(writer, repo);
      const manifests = Array.from({ length: n }, (_, i) => distinctManifest(image, i));
      const digests = manifests.map((body) => sha256(body));
      await runPool(n, opts.concurrency, (i) => putManifest(writer, repo, `t${i}`, manifests[i]!));
      const blobs = Array.from({ length: n }, () => {
        const source = new BlobSource(opts.smallBytes);
        return { bytes: source.bytes(), digest: source.digest() };
      });
      await runPool(n, opts.concurrency, (i) => pushBytes(writer, repo, blobs[i]!.bytes, blobs[i]!.digest));

      const reader: Target = { base: ctx.server.url, agent: withAuthorization(ctx.agent, pull) };
      const reads: Array<[string, (i: number) => Promise<void>]> = [
        ["manifest-head", (i) => fetchManifest(reader, "HEAD", repo, `t${i % n}`, digests[i % n]!)],
        ["manifest-get", (i) => fetchManifest(reader, "GET", repo, `t${i % n}`, digests[i % n]!)],
        ["blob-head", (i) => headBlob(reader, repo, blobs[i % n]!.digest, opts.smallBytes)],
      ];
      // Unmeasured, on the same items (reads change nothing): the figures are a running server's,
      // after lading's first bcrypt of the password (then remembered) and its hot paths compiled.
      await warmUp(opts, n, (i) => reads[i % reads.length]![1](i));
      const minMs = opts.minSeconds * 1000;
      for (const [read, op] of reads) await ctx.phase(`auth.${mode}.${read}`, () => runPool(n, opts.concurrency, op, minMs));
    },
  };
}
