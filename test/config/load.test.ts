import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfigError, loadConfig } from "../../src/config/load.js";
import { parseDuration } from "../../src/config/duration.js";

describe("configuration", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "lading-config-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const file = async (name: string, text: string) => {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  };

  it("has defaults for a laptop: 127.0.0.1:5000 and ./data", async () => {
    const config = await loadConfig();
    assert.equal(config.http.addr, "127.0.0.1:5000");
    assert.equal(config.storage.filesystem?.rootdirectory, "./data");
    assert.equal(config.storage.filesystem?.directio, true);
    assert.equal(config.storage.delete.enabled, true);
    assert.equal(config.lading.manifests.maxsize, 4 << 20);
    assert.equal(config.validation.manifests.indexes.platforms, "all");
  });

  it("reads registry:2's config.yml format, tolerating sections it does not act on", async () => {
    const path = await file(
      "registry.yml",
      `version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: false
  maintenance:
    uploadpurging:
      enabled: false
      age: 168h
      interval: 24h
      dryrun: false
http:
  addr: :5000
  secret: asecretforlocaldevelopment
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
`,
    );
    const config = await loadConfig({ file: path });
    assert.equal(config.storage.filesystem?.rootdirectory, "/var/lib/registry");
    assert.equal(config.storage.delete.enabled, false);
    assert.equal(config.storage.maintenance.uploadpurging.enabled, false);
    assert.equal(config.storage.maintenance.uploadpurging.age, 168 * 3600 * 1000);
    assert.equal(config.http.addr, ":5000");
    assert.deepEqual(config.http.headers, { "X-Content-Type-Options": ["nosniff"] });
  });

  it("lets the environment override the file, and flags override both", async () => {
    const path = await file("layers.yml", "http:\n  addr: 127.0.0.1:6000\nstorage:\n  filesystem:\n    rootdirectory: /from/file\n");
    const env = { LADING_HTTP_ADDR: "127.0.0.1:7000", LADING_STORAGE_DELETE_ENABLED: "false", UNRELATED: "x" };
    const fromEnv = await loadConfig({ file: path, env });
    assert.equal(fromEnv.http.addr, "127.0.0.1:7000");
    assert.equal(fromEnv.storage.delete.enabled, false);
    assert.equal(fromEnv.storage.filesystem?.rootdirectory, "/from/file");
    const fromFlags = await loadConfig({ file: path, env, overrides: { "http.addr": "127.0.0.1:8000", "storage.filesystem.rootdirectory": "/from/flag" } });
    assert.equal(fromFlags.http.addr, "127.0.0.1:8000");
    assert.equal(fromFlags.storage.filesystem?.rootdirectory, "/from/flag");
  });

  it("a storage directory flag replaces an inmemory driver from the file", async () => {
    const path = await file("inmemory.yml", "storage:\n  inmemory: {}\n  delete:\n    enabled: false\n");
    const config = await loadConfig({ file: path, overrides: { "storage.filesystem.rootdirectory": "/x" } });
    assert.equal(config.storage.inmemory, undefined);
    assert.equal(config.storage.filesystem?.rootdirectory, "/x");
    assert.equal(config.storage.delete.enabled, false);
  });

  const rejects = async (text: string, pattern: RegExp) => {
    const path = await file(`bad-${Math.random().toString(36).slice(2)}.yml`, text);
    await assert.rejects(loadConfig({ file: path }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.exitCode, 2);
      assert.match(err.message, pattern);
      assert.ok(!err.message.includes("\n"), "one line");
      return true;
    });
  };

  it("names the key of an unknown setting", () => rejects("storage:\n  filesytem:\n    rootdirectory: /x\n", /unknown key storage\.filesytem/));
  it("refuses a retention rule that keeps nothing by age or count, naming it", () =>
    rejects("lading:\n  gc:\n    retention:\n      - repositories: ['team/*']\n        keeptags: [v*]\n", /lading\.gc\.retention\.0.*needs keeplast or olderthan/));
  it("reads the collection's schedule, grace, retention and immutable tags", async () => {
    const path = await file("gc.yml", "lading:\n  gc:\n    enabled: true\n    interval: 12h\n    grace: 30m\n    retention:\n      - repositories: ['team/*']\n        keeplast: 5\n        olderthan: 720h\n  tags:\n    immutable:\n      - tags: ['v*']\n");
    const config = await loadConfig({ file: path });
    assert.equal(config.lading.gc.interval, 12 * 3_600_000);
    assert.equal(config.lading.gc.grace, 30 * 60_000);
    assert.deepEqual(config.lading.gc.retention, [{ repositories: ["team/*"], keeplast: 5, olderthan: 720 * 3_600_000, keeptags: [] }]);
    assert.deepEqual(config.lading.tags.immutable, [{ repositories: ["**"], tags: ["v*"] }]);
  });
  it("names the key of a bad value", () => rejects("storage:\n  delete:\n    enabled: maybe\n", /storage\.delete\.enabled/));
  it("turns direct I/O off by file or environment, and names a bad value", async () => {
    const path = await file("directio.yml", "storage:\n  filesystem:\n    rootdirectory: /x\n    directio: false\n");
    assert.equal((await loadConfig({ file: path })).storage.filesystem?.directio, false);
    assert.equal((await loadConfig({ env: { LADING_STORAGE_FILESYSTEM_DIRECTIO: "false" } })).storage.filesystem?.directio, false);
    await rejects("storage:\n  filesystem:\n    rootdirectory: /x\n    directio: sometimes\n", /storage\.filesystem\.directio/);
  });
  it("takes registry:2's storage health check and refuses the checks lading does not make", async () => {
    const path = await file("health.yml", "storage:\n  inmemory: {}\nhealth:\n  storagedriver:\n    enabled: true\n    interval: 5s\n    threshold: 2\n");
    assert.deepEqual((await loadConfig({ file: path })).health.storagedriver, { enabled: true, interval: 5000, threshold: 2 });
    await rejects("health:\n  file:\n    - file: /tmp/down\n      interval: 10s\n", /health\.file.*lading does not support file health checks/);
    await rejects("health:\n  http:\n    - uri: http://localhost:5000/debug/health\n", /health\.http/);
  });

  it("names the key of a bad duration", () => rejects("storage:\n  maintenance:\n    uploadpurging:\n      age: soon\n", /storage\.maintenance\.uploadpurging\.age: not a duration/));
  it("refuses two storage drivers", () => rejects("storage:\n  inmemory: {}\n  filesystem:\n    rootdirectory: /x\n", /exactly one storage driver/));
  it("refuses YAML that does not parse", () => rejects("http: [\n", /not valid YAML/));
  it("names the environment variable that set an unknown key", async () => {
    await assert.rejects(loadConfig({ env: { LADING_KEEP_SCRATCH: "1" } }), /unknown key keep \(set by environment variable LADING_KEEP_SCRATCH\)/);
    await assert.rejects(loadConfig({ env: { LADING_STORAGE_DELETE_ENABLED: "sometimes" } }), /storage\.delete\.enabled: .*LADING_STORAGE_DELETE_ENABLED/);
  });

  describe("refuses what lading does not do, naming the key", () => {
    const cases: Array<[string, string, RegExp]> = [
      ["a mirror's eviction age that is no duration", "proxy:\n  remoteurl: https://registry-1.docker.io\n  ttl: a week\n", /proxy\.ttl: not a duration/],
      ["a proxy section without its upstream", "proxy:\n  username: me\n", /proxy: proxy needs remoteurl/],
      ["a mirror upstream with a path", "lading:\n  mirror:\n    upstreams:\n      - {prefix: hub, url: https://a.example/v2/}\n", /lading\.mirror\.upstreams\.0\.url: must be a registry's root URL/],
      ["two mirrors under one prefix", "lading:\n  mirror:\n    upstreams:\n      - {prefix: hub, url: https://a.example}\n      - {prefix: hub, url: https://b.example}\n", /two upstreams under the prefix hub/],
      ["a notification endpoint without a URL", "notifications:\n  endpoints:\n    - name: ci\n", /notifications\.endpoints\.0\.url/],
      ["an unknown notification endpoint key", "notifications:\n  endpoints:\n    - name: ci\n      url: http://x\n      queue: 5\n", /unknown key notifications\.endpoints\.0\.queue/],
      ["redis", "redis:\n  addr: localhost:6379\n", /redis: lading does not support redis/],
      ["a redis blob-descriptor cache", "storage:\n  cache:\n    blobdescriptor: redis\n", /storage\.cache\.blobdescriptor: .*redis is not supported/],
      ["an unknown auth type", "auth:\n  silly:\n    realm: x\n    service: y\n", /unknown key auth\.silly/],
      ["an empty auth section", "auth: {}\n", /auth: name htpasswd or token/],
      ["an htpasswd section without a path", "auth:\n  htpasswd:\n    realm: x\n", /auth\.htpasswd\.path/],
      ["storage middleware", "middleware:\n  storage:\n    - name: cloudfront\n", /middleware: lading does not support middleware/],
      ["a path prefix", "http:\n  prefix: /registry/\n", /http\.prefix: lading serves at the root/],
      ["foreign-layer URL rules", "validation:\n  manifests:\n    urls:\n      allow: ['^https://']\n", /validation\.manifests\.urls/],
      ["a text log format", "log:\n  formatter: text\n", /log\.formatter: lading logs JSON lines/],
      ["a policy rule without subjects", "auth:\n  htpasswd:\n    path: /x\nlading:\n  auth:\n    rules:\n      - repositories: ['**']\n        actions: [pull]\n", /lading\.auth\.rules\.0: a rule names users, groups or anonymous/],
    ];
    for (const [what, text, pattern] of cases) it(what, () => rejects(text, pattern));
  });

  it("accepts the empty forms of sections it does not act on, and reads auth and catalog settings", async () => {
    const path = await file(
      "auth.yml",
      "auth:\n  htpasswd:\n    realm: team\n    path: /etc/htpasswd\n  token:\n    service: reg\n    issuer: me\nnotifications:\n  events:\n    includereferences: true\nproxy: {}\ncatalog:\n  maxentries: 50\n",
    );
    const config = await loadConfig({ file: path });
    assert.equal(config.auth?.htpasswd?.path, "/etc/htpasswd");
    assert.equal(config.auth?.token?.service, "reg");
    assert.equal(config.catalog.maxentries, 50);
    assert.equal(config.lading.auth.token.algorithm, "ES256");
    assert.equal(config.lading.auth.token.expiration, 300_000);
    assert.equal(config.notifications.events.includereferences, true);
  });

  it("reads registry:2's notification endpoints with its defaults for zero values", async () => {
    const path = await file("notify.yml", "notifications:\n  endpoints:\n    - name: ci\n      url: http://127.0.0.1:9/x\n      timeout: 500ms\n      threshold: 0\n      backoff: 0s\n      headers:\n        Authorization: [Bearer x]\n");
    const [endpoint] = (await loadConfig({ file: path })).notifications.endpoints;
    assert.deepEqual([endpoint?.timeout, endpoint?.threshold, endpoint?.backoff, endpoint?.headers, endpoint?.format], [500, 10, 1000, { Authorization: ["Bearer x"] }, "distribution"]);
  });

  it("reads registry:2's s3 storage section, and a storage directory flag replaces it", async () => {
    const path = await file("s3.yml", "storage:\n  s3:\n    regionendpoint: http://127.0.0.1:7480\n    bucket: registry\n    secure: false\n    rootdirectory: /prefix\n");
    const config = await loadConfig({ file: path });
    assert.equal(config.storage.s3?.bucket, "registry");
    assert.equal(config.storage.filesystem, undefined);
    const flagged = await loadConfig({ file: path, overrides: { "storage.filesystem.rootdirectory": "/x" } });
    assert.equal(flagged.storage.s3, undefined);
    assert.equal(flagged.storage.filesystem?.rootdirectory, "/x");
  });

  it("refuses a missing file clearly", async () => {
    await assert.rejects(loadConfig({ file: join(dir, "nope.yml") }), /cannot read config file .*nope\.yml/);
  });

  it("parses Go durations", () => {
    assert.equal(parseDuration("1h30m"), 5_400_000);
    assert.equal(parseDuration("250ms"), 250);
    assert.equal(parseDuration(10), 10_000);
    assert.equal(parseDuration("10"), undefined);
    assert.equal(parseDuration("1x"), undefined);
  });
});
