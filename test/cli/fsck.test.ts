import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { after, before, describe, it } from "node:test";
import { descriptor, digestOf, mt, pushBlob, pushImage, pushManifest, request, startTestServer, type PushedImage } from "../api/support.js";
import { ladingMain, runLading } from "../helpers/lading-cli.js";
import type { FsckReport } from "../../src/registry/fsck.js";

const v2 = "docker/registry/v2";
const blobDir = (digest: string) => `${v2}/blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}`;
const repo = (name: string) => `${v2}/repositories/${name}`;

/** Every file under `root`, relative, with its bytes' digest (what "untouched" compares). */
async function files(root: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const entry of await readdir(join(root, v2), { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    found.set(relative(root, path), digestOf(await readFile(path)));
  }
  return found;
}

async function put(root: string, path: string, content: string | Buffer): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), content);
}

const exists = (root: string, path: string) => stat(join(root, path)).then(() => true, () => false);

function report(stdout: string): FsckReport {
  return JSON.parse(stdout) as FsckReport;
}

describe("lading fsck", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "lading-fsck-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A store with images, an index over two of them, a referrer, tags and an upload in progress. */
  async function store(name: string): Promise<{ root: string; images: Record<string, PushedImage> }> {
    const root = join(dir, name);
    const server = await startTestServer({}, root);
    const images: Record<string, PushedImage> = {};
    try {
      images.v1 = await pushImage(server, "app", "v1", { layers: 2 });
      images.v2 = await pushImage(server, "app", "v2");
      images.other = await pushImage(server, "team/other", "latest");
      const index = { schemaVersion: 2, mediaType: mt.ociIndex, manifests: [images.v1, images.v2].map((i) => descriptor(mt.ociManifest, i.body)) };
      await pushManifest(server, "app", "multi", index, mt.ociIndex);
      const sbom = Buffer.from("{}");
      await pushBlob(server, "app", sbom);
      const referrer = { schemaVersion: 2, mediaType: mt.ociManifest, artifactType: "application/spdx+json", config: { ...descriptor("application/vnd.oci.empty.v1+json", sbom) }, layers: [descriptor("application/spdx+json", sbom)], subject: descriptor(mt.ociManifest, images.v1.body) };
      await pushManifest(server, "app", digestOf(JSON.stringify(referrer)), referrer, mt.ociManifest);
      assert.equal((await request(server, "POST", "/v2/app/blobs/uploads/")).status, 202);
    } finally {
      await server.close();
    }
    return { root, images };
  }

  it("finds a store that pushes made sound, and says what it checked", async () => {
    const { root } = await store("sound");
    const text = await runLading(["fsck", "--storage", root]);
    assert.equal(text.code, 0, text.stderr + text.stdout);
    assert.match(text.stdout, /^checked 13 blobs \(.* hashed\), 2 repositories, 5 manifests, 4 tags, \d+ links, 1 uploads in progress in /m);
    assert.match(text.stdout, /^the store is sound$/m);
    const json = await runLading(["fsck", "--storage", root, "--json", "--no-hash"]);
    assert.equal(json.code, 0, json.stderr);
    const parsed = report(json.stdout);
    assert.equal(parsed.sound, true);
    assert.equal(parsed.blobs.hashed, false);
    assert.equal(parsed.problemCount, 0);
    assert.deepEqual(parsed.problems, []);
  });

  it("reports every kind of breakage, and --repair removes what is broken and nothing sound", async () => {
    const { root, images } = await store("broken");
    const [v1Layer0, v1Layer1] = images.v1!.layers.map((l) => l.digest) as [string, string];
    const otherLayer = images.other!.layers[0]!.digest;
    const missing = digestOf(randomBytes(16));
    const v2LayerBytes = await readFile(join(root, blobDir(images.v2!.layers[0]!.digest), "data"));
    const otherLayerBytes = await readFile(join(root, blobDir(otherLayer), "data"));
    // The damage, each of a kind fsck names.
    await writeFile(join(root, blobDir(images.v2!.layers[0]!.digest), "data"), "flipped bits"); // blob-corrupt
    await mkdir(join(root, blobDir(missing)), { recursive: true }); // blob-without-data
    await put(root, `${repo("app")}/_layers/sha256/${digestOf("gone").slice(7)}/link`, digestOf("gone")); // link-dangling
    await put(root, `${repo("app")}/_layers/sha256/${digestOf("odd").slice(7)}/link`, "not a digest"); // link-corrupt
    await put(root, `${repo("app")}/_manifests/tags/ghost/current/link`, missing); // tag-dangling
    await put(root, `${repo("app")}/_manifests/revisions/sha256/${missing.slice(7)}/link`, missing); // revision-without-bytes
    await put(root, `${repo("app")}/_uploads/bad-start-time/startedat`, "yesterday"); // upload-malformed
    // A crash can take a session's start time: its folder's time stands for it, as for the purge.
    await put(root, `${repo("app")}/_uploads/no-start-time/data`, "x"); // in progress
    await put(root, `${repo("app")}/_uploads/old-no-start-time/data`, "x"); // upload-abandoned
    await utimes(join(root, `${repo("app")}/_uploads/old-no-start-time`), new Date("2001-01-01"), new Date("2001-01-01"));
    await put(root, `${repo("app")}/_uploads/old/startedat`, "2001-01-01T00:00:00Z"); // upload-abandoned
    await rm(join(root, blobDir(otherLayer)), { recursive: true }); // manifest-blob-missing (and its link dangles)
    await put(root, `${repo("app")}/_referrers/sha256/${images.v1!.digest.slice(7)}/sha256/${missing.slice(7)}/link`, missing); // referrer-dangling
    const before = await files(root);

    const found = await runLading(["fsck", "--storage", root, "--json"]);
    assert.equal(found.code, 4, found.stderr);
    const first = report(found.stdout);
    assert.equal(first.sound, false);
    const kinds = first.problems.map((p) => p.kind).sort();
    assert.deepEqual(kinds, [
      "blob-corrupt",
      "blob-without-data",
      "link-corrupt",
      "link-dangling",
      "link-dangling",
      "manifest-blob-missing",
      "referrer-dangling",
      "revision-without-bytes",
      "tag-dangling",
      "upload-abandoned",
      "upload-abandoned",
      "upload-malformed",
    ]);
    assert.equal(first.uploads.inProgress, 2, "the store's open upload, and the young session without a start time");
    assert.deepEqual(await files(root), before, "a check without --repair changes nothing");
    const text = await runLading(["fsck", "--storage", root]);
    assert.equal(text.code, 4);
    assert.match(text.stdout, /^blob-corrupt: blob sha256:\w+ hashes to sha256:\w+ \(its bytes are corrupt\) \(--repair would remove the blob folder\)$/m);
    assert.match(text.stdout, /^manifest-blob-missing: manifest team\/other@sha256:\w+ names blob sha256:\w+, whose bytes are not stored \(push the image again\)$/m);
    assert.match(text.stdout, /^12 problems; run lading fsck --repair to remove what is broken$/m);

    const repaired = await runLading(["fsck", "--storage", root, "--repair", "--json"]);
    assert.equal(repaired.code, 4, "what a repair leaves (a manifest whose layer is gone) keeps the store unsound");
    const second = report(repaired.stdout);
    assert.equal(second.repairedCount, 12, "the eleven, and the link to the corrupt blob once it is gone");
    assert.deepEqual(second.problems.filter((p) => p.repaired !== true).map((p) => p.kind).sort(), ["manifest-blob-missing", "manifest-blob-missing"], "v2 lost its corrupt layer, other its removed one");

    // What went is exactly what was broken; every other file is as it was.
    const afterRepair = await files(root);
    const removed = [...before.keys()].filter((path) => !afterRepair.has(path)).sort();
    assert.deepEqual(removed, [
      `${blobDir(images.v2!.layers[0]!.digest)}/data`,
      `${repo("app")}/_layers/sha256/${digestOf("gone").slice(7)}/link`,
      `${repo("app")}/_layers/sha256/${digestOf("odd").slice(7)}/link`,
      `${repo("app")}/_layers/sha256/${images.v2!.layers[0]!.digest.slice(7)}/link`,
      `${repo("app")}/_manifests/revisions/sha256/${missing.slice(7)}/link`,
      `${repo("app")}/_manifests/tags/ghost/current/link`,
      `${repo("app")}/_referrers/sha256/${images.v1!.digest.slice(7)}/sha256/${missing.slice(7)}/link`,
      `${repo("app")}/_uploads/bad-start-time/startedat`,
      `${repo("app")}/_uploads/old-no-start-time/data`,
      `${repo("app")}/_uploads/old/startedat`,
      `${repo("team/other")}/_layers/sha256/${otherLayer.slice(7)}/link`,
    ].sort());
    for (const [path, digest] of afterRepair) assert.equal(before.get(path), digest, path);
    assert.equal(await exists(root, blobDir(missing)), false);
    assert.equal(await exists(root, `${repo("app")}/_uploads/old-no-start-time`), false);
    assert.equal(await exists(root, `${repo("app")}/_uploads/no-start-time`), true, "a young session without a start time is left to finish");

    // The sound image still pulls whole.
    const server = await startTestServer({}, root);
    try {
      for (const digest of [images.v1!.config.digest, v1Layer0, v1Layer1]) assert.equal((await request(server, "GET", `/v2/app/blobs/${digest}`)).status, 200);
      assert.equal((await request(server, "GET", "/v2/app/manifests/multi", { headers: { Accept: mt.ociIndex } })).status, 200);
      assert.equal((await request(server, "GET", "/v2/app/manifests/ghost")).status, 404);
      // Pushing what is missing again makes the store sound.
      await pushBlob(server, "app", v2LayerBytes);
      await pushBlob(server, "team/other", otherLayerBytes);
    } finally {
      await server.close();
    }
    const again = await runLading(["fsck", "--storage", root]);
    assert.equal(again.code, 0, again.stdout);
    assert.match(again.stdout, /^the store is sound$/m);
  });

  it("checks through the server that owns the store while it takes pushes, and refuses --repair then", async () => {
    const { root } = await store("live");
    const server = await startTestServer({}, root);
    try {
      let pushing = true;
      const load = (async () => {
        for (let i = 0; pushing; i++) await pushImage(server, `load/r${i % 3}`, `t${i % 4}`);
      })();
      const checks = [];
      for (const flags of [[], ["--no-hash"]]) checks.push(await runLading(["fsck", "--storage", root, "--json", ...flags]));
      pushing = false;
      await load;
      for (const check of checks) {
        assert.equal(check.code, 0, check.stdout + check.stderr);
        assert.equal(report(check.stdout).sound, true);
      }
      const refused = await runLading(["fsck", "--storage", root, "--repair"]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /^lading: a running server owns .*: stop it before lading fsck --repair/m);
    } finally {
      await server.close();
    }
  });

  it("draws a progress bar on a terminal, and none when not on one", async () => {
    const { root } = await store("progress");
    // script(1) gives the command a pseudo-terminal, as a user's shell would.
    // LADING_* variables are config keys to lading: the store named on the command line must be the only one.
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("LADING_")));
    const tty = spawnSync("script", ["-qc", `"${process.execPath}" "${ladingMain}" fsck --storage "${root}"`, "/dev/null"], { encoding: "utf8", env });
    assert.equal(tty.status, 0, tty.stdout + tty.stderr);
    assert.match(tty.stdout, /blob prefixes \[[^\]]*\] \d+\/\d+/);
    assert.match(tty.stdout, /repositories {2}\[[^\]]*\] 2\/2/);
    const piped = await runLading(["fsck", "--storage", root]);
    assert.equal(piped.stderr, "", "no progress without a terminal");
  });

  it("names a missing store and a missing flag", async () => {
    const none = await runLading(["fsck", "--storage", join(dir, "nothing-here")]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no store at .*nothing-here: it is not a directory/);
    assert.equal(await exists(dir, "nothing-here"), false);
    const usage = await runLading(["fsck", "--json"]);
    assert.equal(usage.code, 2);
    assert.match(JSON.parse(usage.stdout).error.message, /name the store/);
  });
});
