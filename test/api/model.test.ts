import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { apiStorage, digestOf, expectError, mt, pathOf, request, startTestServer, withDigest, type Reply, type TestServer } from "./support.js";

/*
 * Model-based test of the API (fast-check's commands): random sequences of pushes, mounts, deletes,
 * reads and listings against one server, each answer checked against a small in-memory registry.
 * Every run works in repositories of its own (`model<run>/...`) with blobs of its own, so one
 * server serves every run, and a shrunk sequence replays from a clean state.
 */

interface RepoModel {
  blobs: Set<string>;
  /** digest → the bytes pushed. */
  manifests: Map<string, Buffer>;
  /** tag → digest. */
  tags: Map<string, string>;
  /** Once a repository holds a manifest it may stay listed (registry:2 removes no repository). */
  everHeld: boolean;
}

interface Model {
  repos: Map<string, RepoModel>;
  /** Every blob and manifest stored anywhere: what a mount without `from` finds. */
  stored: Set<string>;
}

interface Real {
  server: TestServer;
  prefix: string;
  blobs: Buffer[];
}

const repoNames = ["a", "b/c", "d"];
const tagNames = ["latest", "v1", "v1.0-rc"];
const blobCount = 4;

/** A manifest by what it names: an image (config and at most one layer) or an index of one or two images. */
type Image = { config: number; layer: number | undefined };
type Target = { image: Image } | { index: Image[] };

function repoOf(model: Model, real: Real, i: number): { name: string; state: RepoModel } {
  const name = `${real.prefix}/${repoNames[i]}`;
  let state = model.repos.get(name);
  if (state === undefined) model.repos.set(name, (state = { blobs: new Set(), manifests: new Map(), tags: new Map(), everHeld: false }));
  return { name, state };
}

function blobDescriptor(real: Real, i: number, mediaType: string): { mediaType: string; digest: string; size: number } {
  const data = real.blobs[i]!;
  return { mediaType, digest: digestOf(data), size: data.length };
}

function imageBytes(real: Real, image: Image): Buffer {
  const layers = image.layer === undefined ? [] : [blobDescriptor(real, image.layer, mt.ociLayer)];
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mt.ociManifest, config: blobDescriptor(real, image.config, mt.ociConfig), layers }));
}

function manifestOf(real: Real, target: Target): { body: Buffer; digest: string; mediaType: string; needs: { blobs: string[]; manifests: string[] } } {
  if ("image" in target) {
    const body = imageBytes(real, target.image);
    const blobs = [target.image.config, ...(target.image.layer === undefined ? [] : [target.image.layer])].map((i) => digestOf(real.blobs[i]!));
    return { body, digest: digestOf(body), mediaType: mt.ociManifest, needs: { blobs, manifests: [] } };
  }
  const children = target.index.map((image) => imageBytes(real, image));
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mt.ociIndex, manifests: children.map((child) => ({ mediaType: mt.ociManifest, digest: digestOf(child), size: child.length })) }));
  return { body, digest: digestOf(body), mediaType: mt.ociIndex, needs: { blobs: [], manifests: children.map((child) => digestOf(child)) } };
}

/** A 404 for something absent: the thing's own code, or NAME_UNKNOWN for a repository that never held a manifest. */
function expectUnknown(reply: Reply, code: string, repo: RepoModel, what: string): void {
  expectError(reply, 404, repo.everHeld ? [code] : [code, "NAME_UNKNOWN"], what);
}

/** Follows `Link: <...>; rel="next"` from `path?n=`, gathering the array `field` of every page (or the first refusal). */
async function allPages(server: TestServer, path: string, n: number | undefined, field: string): Promise<Reply | string[]> {
  const items: string[] = [];
  let next: string | undefined = n === undefined ? path : `${path}?n=${n}`;
  for (let pages = 0; next !== undefined; pages++) {
    assert.ok(pages < 1000, "pagination does not end");
    const reply = await request(server, "GET", next);
    if (reply.status !== 200) return reply;
    const page = reply.json<Record<string, string[]>>()[field]!;
    assert.ok(n === undefined || page.length <= n, `a page of ${page.length} for n=${n}`);
    items.push(...page);
    const link = reply.header("link");
    next = link === undefined ? undefined : /^<([^>]+)>;\s*rel="next"$/.exec(link)?.[1];
    assert.ok(link === undefined || next !== undefined, `malformed Link ${link}`);
  }
  return items;
}

abstract class Step implements fc.AsyncCommand<Model, Real> {
  check(): boolean {
    return true;
  }
  abstract run(model: Model, real: Real): Promise<void>;
  abstract toString(): string;
}

class PushBlob extends Step {
  constructor(readonly repo: number, readonly blob: number, readonly how: "monolithic" | "session" | "chunks") {
    super();
  }
  async run(model: Model, real: Real): Promise<void> {
    const { name, state } = repoOf(model, real, this.repo);
    const data = real.blobs[this.blob]!;
    const digest = digestOf(data);
    let reply: Reply;
    if (this.how === "monolithic") reply = await request(real.server, "POST", `/v2/${name}/blobs/uploads/?digest=${digest}`, { body: data });
    else {
      const started = await request(real.server, "POST", `/v2/${name}/blobs/uploads/`);
      assert.equal(started.status, 202, started.text());
      let location = started.header("location")!;
      const half = this.how === "chunks" ? data.length >> 1 : 0;
      if (half > 0) {
        const patched = await request(real.server, "PATCH", location, { body: data.subarray(0, half), headers: { "Content-Range": `0-${half - 1}` } });
        assert.equal(patched.status, 202, patched.text());
        location = patched.header("location")!;
      }
      reply = await request(real.server, "PUT", withDigest(location, digest), { body: data.subarray(half), headers: { "Content-Range": `${half}-${data.length - 1}` } });
    }
    assert.equal(reply.status, 201, reply.text());
    assert.equal(reply.header("docker-content-digest"), digest);
    state.blobs.add(digest);
    model.stored.add(digest);
  }
  toString(): string {
    return `PushBlob(${this.repo}, ${this.blob}, ${this.how})`;
  }
}

class MountBlob extends Step {
  constructor(readonly repo: number, readonly blob: number, readonly from: number | undefined) {
    super();
  }
  async run(model: Model, real: Real): Promise<void> {
    const { name, state } = repoOf(model, real, this.repo);
    const digest = digestOf(real.blobs[this.blob]!);
    const source = this.from === undefined ? undefined : repoOf(model, real, this.from);
    const reply = await request(real.server, "POST", `/v2/${name}/blobs/uploads/?mount=${digest}${source ? `&from=${source.name}` : ""}`);
    const mountable = source ? source.state.blobs.has(digest) : model.stored.has(digest);
    if (mountable) {
      assert.equal(reply.status, 201, reply.text());
      assert.equal(pathOf(reply.header("location")!), `/v2/${name}/blobs/${digest}`);
      state.blobs.add(digest);
    } else {
      assert.equal(reply.status, 202, `mount of a blob the source lacks: ${reply.status} ${reply.text()}`);
      assert.equal((await request(real.server, "DELETE", reply.header("location")!)).status, 204);
    }
  }
  toString(): string {
    return `MountBlob(${this.repo}, ${this.blob}, from ${this.from})`;
  }
}

class DeleteBlob extends Step {
  constructor(readonly repo: number, readonly blob: number) {
    super();
  }
  async run(model: Model, real: Real): Promise<void> {
    const { name, state } = repoOf(model, real, this.repo);
    const digest = digestOf(real.blobs[this.blob]!);
    const reply = await request(real.server, "DELETE", `/v2/${name}/blobs/${digest}`);
    if (state.blobs.delete(digest)) assert.equal(reply.status, 202, reply.text());
    else expectError(reply, 404, "BLOB_UNKNOWN", this.toString());
  }
  toString(): string {
    return `DeleteBlob(${this.repo}, ${this.blob})`;
  }
}

class GetBlob extends Step {
  constructor(readonly repo: number, readonly blob: number, readonly method: "GET" | "HEAD") {
    super();
  }
  async run(model: Model, real: Real): Promise<void> {
    const { name, state } = repoOf(model, real, this.repo);
    const data = real.blobs[this.blob]!;
    const reply = await request(real.server, this.method, `/v2/${name}/blobs/${digestOf(data)}`);
    if (!state.blobs.has(digestOf(data))) return void expectError(reply, 404, "BLOB_UNKNOWN", this.toString());
    assert.equal(reply.status, 200, reply.text());
    assert.equal(reply.header("content-length"), String(data.length));
    if (this.method === "GET") assert.ok(reply.body.equals(data), "blob bytes differ");
  }
  toString(): string {
    return `GetBlob(${this.repo}, ${this.blob}, ${this.method})`;
  }
}

class PushManifest extends Step {
  constructor(readonly repo: number, readonly target: Target, readonly tag: number | undefined, readonly alsoTag: number | undefined) {
    super();
  }
  async run(model: Model, real: Real): Promise<void> {
    const { name, state } = repoOf(model, real, this.repo);
    const { body, digest, mediaType, needs } = manifestOf(real, this.target);
    const reference = this.tag === undefined ? digest : tagNames[this.tag]!;
    const query = this.alsoTag === undefined ? "" : `?tag=${tagNames[this.alsoTag]}`;
    const reply = await request(real.server, "PUT", `/v2/${name}/manifests/${reference}${query}`, { body, headers: { "Content-Type": mediaType } });
    const complete = needs.blobs.every((d) => state.blobs.has(d)) && needs.manifests.every((d) => state.manifests.has(d));
    if (!complete) return void expectError(reply, 400, "MANIFEST_BLOB_UNKNOWN", this.toString());
    assert.equal(reply.status, 201, reply.text());
    assert.equal(reply.header("docker-content-digest"), digest);
    state.manifests.set(digest, body);
    for (const tag of [this.tag, this.alsoTag]) if (tag !== undefined) state.tags.set(tagNames[tag]!, digest);
    state.everHeld = true;
    model.stored.add(digest);
  }
  toString(): string {
    return `PushManifest(${this.repo}, ${JSON.stringify(this.target)}, tag ${this.tag}, ?tag= ${this.alsoTag})`;
  }
}

/** Everything a manifest names (blobs, child images by digest), then the manifest: what the other steps read, move and delete. */
class PushComplete extends Step {
  constructor(readonly repo: number, readonly target: Target, readonly tag: number | undefined, readonly how: PushBlob["how"]) {
    super();
  }
  async run(model: Model, real: Real): Promise<void> {
    for (const image of "image" in this.target ? [this.target.image] : this.target.index) {
      for (const blob of [image.config, image.layer]) if (blob !== undefined) await new PushBlob(this.repo, blob, this.how).run(model, real);
      if ("index" in this.target) await new PushManifest(this.repo, { image }, undefined, undefined).run(model, real);
    }
    await new PushManifest(this.repo, this.target, this.tag, undefined).run(model, real);
  }
  toString(): string {
    return `PushComplete(${this.repo}, ${JSON.stringify(this.target)}, tag ${this.tag}, ${this.how})`;
  }
}

class DeleteManifest extends Step {
  constructor(readonly repo: number, readonly target: Target) {
    super();
  }
  async run(model: Model, real: Real): Promise<void> {
    const { name, state } = repoOf(model, real, this.repo);
    const { digest } = manifestOf(real, this.target);
    const reply = await request(real.server, "DELETE", `/v2/${name}/manifests/${digest}`);
    if (!state.manifests.delete(digest)) return expectUnknown(reply, "MANIFEST_UNKNOWN", state, this.toString());
    assert.equal(reply.status, 202, reply.text());
    for (const [tag, tagged] of state.tags) if (tagged === digest) state.tags.delete(tag);
  }
  toString(): string {
    return `DeleteManifest(${this.repo}, ${JSON.stringify(this.target)})`;
  }
}

class DeleteTag extends Step {
  constructor(readonly repo: number, readonly tag: number) {
    super();
  }
  async run(model: Model, real: Real): Promise<void> {
    const { name, state } = repoOf(model, real, this.repo);
    const tag = tagNames[this.tag]!;
    const reply = await request(real.server, "DELETE", `/v2/${name}/manifests/${tag}`);
    if (!state.tags.delete(tag)) return expectUnknown(reply, "MANIFEST_UNKNOWN", state, this.toString());
    assert.equal(reply.status, 202, reply.text());
  }
  toString(): string {
    return `DeleteTag(${this.repo}, ${this.tag})`;
  }
}

class GetManifest extends Step {
  constructor(readonly repo: number, readonly ref: { tag: number } | { target: Target }, readonly method: "GET" | "HEAD") {
    super();
  }
  async run(model: Model, real: Real): Promise<void> {
    const { name, state } = repoOf(model, real, this.repo);
    const reference = "tag" in this.ref ? tagNames[this.ref.tag]! : manifestOf(real, this.ref.target).digest;
    const digest = "tag" in this.ref ? state.tags.get(reference) : reference;
    const reply = await request(real.server, this.method, `/v2/${name}/manifests/${reference}`);
    const body = digest === undefined ? undefined : state.manifests.get(digest);
    if (body === undefined) return expectUnknown(reply, "MANIFEST_UNKNOWN", state, this.toString());
    assert.equal(reply.status, 200, reply.text());
    assert.equal(reply.header("docker-content-digest"), digest);
    assert.equal(reply.header("content-length"), String(body.length));
    assert.equal(reply.header("content-type"), JSON.parse(body.toString("utf8")).mediaType);
    if (this.method === "GET") assert.ok(reply.body.equals(body), "manifest bytes differ");
  }
  toString(): string {
    return `GetManifest(${this.repo}, ${JSON.stringify(this.ref)}, ${this.method})`;
  }
}

class ListTags extends Step {
  constructor(readonly repo: number, readonly n: number | undefined) {
    super();
  }
  async run(model: Model, real: Real): Promise<void> {
    const { name, state } = repoOf(model, real, this.repo);
    const listed = await allPages(real.server, `/v2/${name}/tags/list`, this.n, "tags");
    const expected = [...state.tags.keys()].sort();
    if (!Array.isArray(listed)) {
      // A repository without manifests may be gone (S3 keeps no empty directories) or listed empty.
      assert.ok(state.manifests.size === 0, `tags list of a repository holding manifests: ${listed.status} ${listed.text()}`);
      return void expectError(listed, 404, "NAME_UNKNOWN", this.toString());
    }
    assert.ok(state.everHeld, `tags listed for a repository that never held a manifest: ${JSON.stringify(listed)}`);
    assert.deepEqual(listed, expected, this.toString());
  }
  toString(): string {
    return `ListTags(${this.repo}, n ${this.n})`;
  }
}

class Catalog extends Step {
  constructor(readonly n: number | undefined) {
    super();
  }
  async run(model: Model, real: Real): Promise<void> {
    const listed = await allPages(real.server, "/v2/_catalog", this.n, "repositories");
    assert.ok(Array.isArray(listed), "catalog refused");
    assert.deepEqual(listed, [...new Set(listed)].sort(), "catalog pages not sorted or overlapping");
    const ours = new Set(listed.filter((repo) => repo.startsWith(`${real.prefix}/`)));
    for (const [name, state] of model.repos) {
      if (state.manifests.size > 0) assert.ok(ours.has(name), `${name} holds manifests but is not in the catalog`);
      if (!state.everHeld) assert.ok(!ours.has(name), `${name} never held a manifest but is in the catalog`);
    }
  }
  toString(): string {
    return `Catalog(n ${this.n})`;
  }
}

const repo = fc.nat(repoNames.length - 1);
const blob = fc.nat(blobCount - 1);
const tag = fc.nat(tagNames.length - 1);
// Few images (two configs, two layers), so that sequences name the same ones again.
const image = fc.record({ config: fc.nat(1), layer: fc.option(fc.integer({ min: 2, max: blobCount - 1 }), { nil: undefined }) });
const target: fc.Arbitrary<Target> = fc.oneof({ weight: 3, arbitrary: image.map((i) => ({ image: i })) }, { weight: 1, arbitrary: fc.array(image, { minLength: 1, maxLength: 2 }).map((children) => ({ index: children })) });
const method = fc.constantFrom<"GET" | "HEAD">("GET", "HEAD");
const n = fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined });
// The catalog holds every run's repositories: pages of a few.
const catalogN = fc.option(fc.integer({ min: 3, max: 10 }), { nil: undefined });
const optionalTag = fc.option(tag, { nil: undefined });

const how = fc.constantFrom<PushBlob["how"]>("monolithic", "session", "chunks");
const pushComplete = fc.tuple(repo, target, optionalTag, how).map(([r, t, tagged, h]) => new PushComplete(r, t, tagged, h));
const pushManifest = fc.tuple(repo, target, optionalTag, optionalTag).map(([r, t, by, also]) => new PushManifest(r, t, by, also));
// fc.commands picks among the list evenly: pushes are listed twice, to have something to read and delete.
const steps = [
  ...[pushComplete, pushComplete, pushManifest, pushManifest],
  fc.tuple(repo, blob, how).map(([r, b, h]) => new PushBlob(r, b, h)),
  fc.tuple(repo, blob, fc.option(repo, { nil: undefined })).map(([r, b, from]) => new MountBlob(r, b, from)),
  fc.tuple(repo, blob).map(([r, b]) => new DeleteBlob(r, b)),
  fc.tuple(repo, blob, method).map(([r, b, m]) => new GetBlob(r, b, m)),
  fc.tuple(repo, target).map(([r, t]) => new DeleteManifest(r, t)),
  fc.tuple(repo, tag).map(([r, t]) => new DeleteTag(r, t)),
  fc.tuple(repo, fc.oneof(tag.map((t) => ({ tag: t })), target.map((t) => ({ target: t }))), method).map(([r, ref, m]) => new GetManifest(r, ref, m)),
  fc.tuple(repo, n).map(([r, count]) => new ListTags(r, count)),
  catalogN.map((count) => new Catalog(count)),
];

describe("the API against a model of a registry", () => {
  let server: TestServer;
  let runs = 0;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it("random sequences of pushes, mounts, deletes, reads and listings answer as the model does", async () => {
    const setup = () => {
      const run = ++runs;
      const blobs = Array.from({ length: blobCount }, (_, i) => Buffer.from(`model run ${run} blob ${i} ${"x".repeat(i * 700)}`));
      return { model: { repos: new Map(), stored: new Set() } satisfies Model, real: { server, prefix: `model${run}`, blobs } satisfies Real };
    };
    await fc.assert(
      fc.asyncProperty(fc.commands(steps, { maxCommands: 40, size: "max" }), (commands) => fc.asyncModelRun(setup, commands)),
      { numRuns: apiStorage === "s3" ? 15 : 40 },
    );
  });
});
