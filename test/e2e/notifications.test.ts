/**
 * Notifications to local HTTP receivers: the events of the same requests, sent by lading and by
 * Debian's docker-registry (registry:2), compared field by field; a receiver that is down and comes
 * back, across a restart of lading, loses nothing; one that never comes back costs a bounded
 * queue, reported in /metrics; ignore rules, CloudEvents and included references.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { descriptor, digestOf, mt, pushBlobInTwo, pushManifest, request, startTestServer, type TestServer } from "../api/support.js";
import { requireTools } from "../helpers/exec.js";
import { Receiver } from "../helpers/receiver.js";
import { startDockerRegistry, startLading, type RunningRegistry } from "../helpers/registries.js";

requireTools("docker-registry");

type Event = {
  id: string;
  timestamp: string;
  action: string;
  target: Record<string, unknown>;
  request: Record<string, unknown>;
  actor: Record<string, unknown>;
  source: Record<string, unknown>;
};


/** The same requests against any registry: push an image, pull it, mount a blob, delete the manifest. */
async function exercise(server: TestServer): Promise<{ manifest: string; layer: string }> {
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
  const layer = Buffer.from("a layer's bytes, for notifications\n");
  await pushBlobInTwo(server, "notify/app", config);
  await pushBlobInTwo(server, "notify/app", layer);
  const manifest = { schemaVersion: 2, mediaType: mt.ociManifest, config: descriptor(mt.ociConfig, config), layers: [descriptor(mt.ociLayer, layer)] };
  const pushed = await pushManifest(server, "notify/app", "v1", manifest, mt.ociManifest);
  assert.equal((await request(server, "GET", "/v2/notify/app/manifests/v1", { headers: { Accept: mt.ociManifest } })).status, 200);
  assert.equal((await request(server, "GET", `/v2/notify/app/blobs/${digestOf(layer)}`)).status, 200);
  assert.equal((await request(server, "POST", `/v2/notify/other/blobs/uploads/?mount=${digestOf(layer)}&from=notify/app`)).status, 201);
  assert.equal((await request(server, "DELETE", `/v2/notify/app/manifests/${pushed.digest}`)).status, 202);
  return { manifest: pushed.digest, layer: digestOf(layer) };
}

/** An event with what differs between two registries and two runs taken out: ids, times, addresses, hosts. */
function comparable(e: Event): unknown {
  const target = { ...e.target };
  if (typeof target.url === "string") target.url = target.url.replace(/^https?:\/\/[^/]+/, "");
  return {
    action: e.action,
    target,
    request: { method: e.request.method, keys: Object.keys(e.request).sort() },
    actor: e.actor,
    sourceKeys: Object.keys(e.source).sort(),
  };
}

describe("notifications", { timeout: 300_000 }, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "lading-notify-"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("sends the events registry:2 sends, field for field, in its envelope", async () => {
    const forLading = await Receiver.start();
    const forReference = await Receiver.start();
    const endpoint = (url: string) => ({ name: "hook", url, timeout: "2s", threshold: 3, backoff: "100ms" });
    const lading = await startTestServer({ "notifications.endpoints": [endpoint(forLading.url)] });
    let reference: RunningRegistry | undefined;
    try {
      reference = await startDockerRegistry(join(dir, "reference"), dir, { notifications: { endpoints: [endpoint(forReference.url)] } });
      const port = Number(new URL(reference.url).port);
      const referenceServer = { url: reference.url, host: "127.0.0.1", port } as TestServer;
      const digests = await exercise(lading);
      assert.deepEqual(await exercise(referenceServer), digests, "the same content on both");
      await forReference.until(() => forReference.events().length >= 7);
      await forLading.until(() => forLading.events().length >= forReference.events().length);
      await new Promise((resolve) => setTimeout(resolve, 500));
      for (const r of [...forLading.received, ...forReference.received]) {
        assert.equal(r.headers["content-type"], "application/vnd.docker.distribution.events.v1+json");
      }
      const ours = forLading.events<Event>();
      const theirs = forReference.events<Event>();
      assert.deepEqual(ours.map(comparable), theirs.map(comparable));
      for (const e of ours) {
        assert.match(e.id, /^[0-9a-f-]{36}$/);
        assert.ok(!Number.isNaN(Date.parse(e.timestamp)));
        assert.equal(typeof e.source.instanceID, "string");
      }
      const push = ours.find((e) => e.action === "push" && e.target.tag === "v1")!;
      assert.equal(push.target.url, `${lading.url}/v2/notify/app/manifests/${digests.manifest}`);
    } finally {
      await reference?.stop();
      await lading.close();
      await forLading.close();
      await forReference.close();
    }
  });

  /** One pushed manifest per tag: an event each. */
  async function pushTags(server: TestServer, repo: string, tags: string[]): Promise<void> {
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
    await pushBlobInTwo(server, repo, config);
    for (const tag of tags) {
      await pushManifest(server, repo, tag, { schemaVersion: 2, mediaType: mt.ociManifest, config: descriptor(mt.ociConfig, config), layers: [], annotations: { tag } }, mt.ociManifest);
    }
  }
  const metric = async (server: TestServer, name: string): Promise<number> => {
    const text = (await request(server, "GET", "/metrics")).text();
    const line = text.split("\n").find((l) => l.startsWith(`${name}{endpoint="hook"}`));
    assert.ok(line !== undefined, `${name} is in /metrics`);
    return Number(line.split(" ").at(-1));
  };

  it("keeps what a receiver that is down misses, across a restart, and delivers all of it when it comes back", async () => {
    const receiver = await Receiver.start();
    await receiver.close();
    const root = await mkdtemp(join(dir, "restart-"));
    const overrides = { "notifications.endpoints": [{ name: "hook", url: receiver.url, threshold: 2, backoff: "50ms", timeout: "1s" }] };
    let server = await startTestServer(overrides, root);
    const tags = Array.from({ length: 12 }, (_, i) => `t${i}`);
    try {
      await pushTags(server, "notify/restart", tags.slice(0, 6));
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(await metric(server, "lading_notifications_up"), 0);
      assert.ok((await metric(server, "lading_notifications_pending")) >= 6);
      await server.close();
      server = await startTestServer(overrides, root);
      await pushTags(server, "notify/restart", tags.slice(6));
      await receiver.listen();
      const pushedTags = () => new Set(receiver.events<Event>().filter((e) => e.action === "push" && e.target.tag !== undefined).map((e) => e.target.tag));
      await receiver.until(() => tags.every((t) => pushedTags().has(t)), 30_000, "every push");
      // 12 manifests and the config blob, pushed once before the restart and once after; a clean stop redelivers none.
      await receiver.until(() => receiver.events().length >= 14);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(receiver.events().length, 14);
      assert.equal(await metric(server, "lading_notifications_up"), 1);
      assert.equal(await metric(server, "lading_notifications_pending"), 0);
      assert.equal(await metric(server, "lading_notifications_dropped_total"), 0);
    } finally {
      await server.close();
      await receiver.close();
    }
  });

  it("keeps queued events through a kill of the server (its queue is on disk)", async () => {
    const receiver = await Receiver.start();
    await receiver.close();
    const config = join(dir, "notify-kill.json");
    await writeFile(config, JSON.stringify({ notifications: { endpoints: [{ name: "hook", url: receiver.url, threshold: 2, backoff: "50ms" }] } }));
    const storage = join(dir, "killed");
    let lading = await startLading(storage, ["--config", config]);
    const asServer = (r: RunningRegistry) => ({ url: r.url, host: "127.0.0.1", port: Number(new URL(r.url).port) }) as TestServer;
    const tags = ["k0", "k1", "k2", "k3", "k4"];
    try {
      await pushTags(asServer(lading), "notify/kill", tags);
      // Events are written to the queue just after each answer: a moment later, all of them are.
      await new Promise((resolve) => setTimeout(resolve, 200));
      process.kill(lading.process.pid!, "SIGKILL");
      await lading.stop();
      lading = await startLading(storage, ["--config", config]);
      await receiver.listen();
      const pushed = () => new Set(receiver.events<Event>().map((e) => e.target.tag).filter((t) => t !== undefined));
      await receiver.until(() => tags.every((t) => pushed().has(t)), 30_000, "every push from before the kill");
    } finally {
      await lading.stop();
      await receiver.close();
    }
  });

  it("keeps at most lading.notifications.maxqueue events for a receiver that never comes back, and says so in /metrics", async () => {
    const receiver = await Receiver.start();
    receiver.status = 503;
    const server = await startTestServer({ "notifications.endpoints": [{ name: "hook", url: receiver.url, threshold: 1, backoff: "1s" }], "lading.notifications.maxqueue": 5 });
    try {
      await pushTags(server, "notify/gone", ["a", "b", "c", "d", "e", "f", "g", "h"]);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(await metric(server, "lading_notifications_pending"), 5);
      assert.equal(await metric(server, "lading_notifications_dropped_total"), 4, "9 events (a blob and 8 manifests), 5 kept");
      assert.equal(await metric(server, "lading_notifications_up"), 0);
      assert.ok((await metric(server, "lading_notifications_failing_attempts")) >= 1);
    } finally {
      await server.close();
      await receiver.close();
    }
  });

  it("leaves out what an endpoint ignores, sends CloudEvents to one that asks, and includes references when asked", async () => {
    const plain = await Receiver.start();
    const cloud = await Receiver.start();
    const server = await startTestServer({
      "notifications.endpoints": [
        { name: "hook", url: plain.url, ignore: { actions: ["pull"], mediatypes: ["application/octet-stream"] } },
        { name: "cloud", url: cloud.url, format: "cloudevents", ignoredmediatypes: ["application/octet-stream"] },
      ],
      "notifications.events.includereferences": true,
    });
    try {
      await pushTags(server, "notify/formats", ["x"]);
      assert.equal((await request(server, "GET", "/v2/notify/formats/manifests/x", { headers: { Accept: mt.ociManifest } })).status, 200);
      await cloud.until(() => cloud.received.length >= 2);
      await plain.until(() => plain.received.length >= 1);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const events = plain.events<Event>();
      assert.deepEqual(events.map((e) => [e.action, e.target.mediaType, e.target.tag]), [["push", mt.ociManifest, "x"]], "no blob push, no pull");
      const references = events[0]!.target.references as { mediaType: string; digest: string; size: number }[];
      assert.deepEqual(references.map((r) => r.mediaType), [mt.ociConfig]);
      assert.equal(cloud.received.length, 2);
      const [pushed, pulled] = cloud.received.map((r) => {
        assert.equal(r.headers["content-type"], "application/cloudevents+json");
        return JSON.parse(r.body) as Record<string, unknown> & { data: Event };
      });
      assert.deepEqual([pushed!.specversion, pushed!.type, pushed!.subject, pushed!.datacontenttype], ["1.0", "lading.manifest.pushed", "notify/formats:x", "application/json"]);
      assert.equal(pulled!.type, "lading.manifest.pulled");
      assert.equal(pushed!.id, pushed!.data.id);
      assert.equal(pushed!.time, pushed!.data.timestamp);
      assert.equal(typeof pushed!.source, "string");
    } finally {
      await server.close();
      await plain.close();
      await cloud.close();
    }
  });

  it("refuses endpoints it cannot keep a queue for, or two of one name", async () => {
    const endpoints = [{ name: "hook", url: "http://127.0.0.1:9/events" }];
    await assert.rejects(startTestServer({ "notifications.endpoints": [...endpoints, ...endpoints] }), /two endpoints are named "hook"/);
    await assert.rejects(startTestServer({ "notifications.endpoints": [{ name: "a/b", url: "http://127.0.0.1:9/" }] }), /notifications\.endpoints\.0\.name/);
    await assert.rejects(startTestServer({ "notifications.endpoints": [{ name: "ftp", url: "ftp://127.0.0.1/" }] }), /must be an http or https URL/);
  });
});
