/**
 * Token auth across replicas on one bucket: the token key lading generates is kept in the bucket,
 * so a token issued by one replica is accepted by another, with no key configured.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Htpasswd } from "../../src/auth/htpasswd.js";
import { pushImage, request, s3StorageOverrides, startTestServer, type TestServer } from "../api/support.js";
import { useCeph } from "../helpers/ceph.js";
import { uniqueBucketName } from "../helpers/s3.js";
import { accessOf, as, basic } from "../auth/support.js";

let removeBucket: (() => Promise<void>) | undefined;
after(() => removeBucket?.());
const s3 = await useCeph();
const bucket = uniqueBucketName("lading-replicas-auth");
await s3.createBucket(bucket);
removeBucket = () => s3.deleteBucket(bucket);

describe("token auth on replicas sharing a bucket", () => {
  const servers: TestServer[] = [];
  let dir = "";
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    if (dir !== "") await rm(dir, { recursive: true, force: true });
  });

  it("accepts on one replica a token another issued, from a key both found in the bucket", async () => {
    dir = await mkdtemp(join(tmpdir(), "lading-replicas-auth-"));
    const htpasswd = join(dir, "htpasswd");
    const users = await Htpasswd.load(htpasswd, { missingOk: true });
    await users.setPassword("ci", "ci-secret");
    await users.save(htpasswd);
    const settings = { ...s3StorageOverrides(s3, bucket), "auth.htpasswd.path": htpasswd, "auth.token": { service: "replicas", issuer: "replicas" } };
    // Started together, as replicas behind a load balancer are: each may generate a key, and both end on the stored one.
    const [a, b] = await Promise.all([startTestServer(settings), startTestServer(settings)]);
    servers.push(a!, b!);
    const reply = await request(a!, "GET", "/token?service=replicas&scope=repository:team/app:pull,push", { headers: basic("ci", "ci-secret") });
    assert.equal(reply.status, 200, reply.text());
    const token = reply.json<{ token: string }>().token;
    assert.deepEqual(accessOf(token), [{ type: "repository", name: "team/app", actions: ["pull", "push"] }]);
    const image = await pushImage(as(b!, { Authorization: `Bearer ${token}` }), "team/app", "v1");
    const pulled = await request(as(a!, { Authorization: `Bearer ${token}` }), "GET", `/v2/team/app/manifests/${image.digest}`, { headers: { Accept: image.reply.header("content-type") ?? "application/vnd.oci.image.manifest.v1+json" } });
    assert.equal(pulled.status, 200);
  });
});
