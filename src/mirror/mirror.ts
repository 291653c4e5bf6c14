import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { PassThrough, type Readable } from "node:stream";
import type { Logger } from "pino";
import { pull } from "../client/challenge.js";
import { ClientError, ResponseError } from "../client/errors.js";
import { header, readBody } from "../client/http.js";
import { collect, listTags } from "../client/listing.js";
import { manifestAccept } from "../client/manifests.js";
import { Transport } from "../client/transport.js";
import { digestOf, newHash, parseDigest, type Digest } from "../oci/digest.js";
import { RegistryError } from "../oci/errors.js";
import type { Registry } from "../registry/index.js";
import { Lru, keyBytes } from "../registry/lru.js";
import type { StoredManifest } from "../registry/manifests.js";
import { MirrorRetention } from "./retention.js";
import { isPathNotFound } from "../storage/driver.js";

/** One upstream registry, and where its repositories live here. */
export interface UpstreamSettings {
  /** Local repositories under this prefix (`hub` → `hub/library/alpine`); "" maps every repository. */
  prefix: string;
  url: URL;
  /** The registry host clients name with `?ns=` (docker.io for Docker Hub). */
  namespace: string;
  username?: string;
  password?: string;
  /** A docker config.json (or podman auth.json) holding the upstream's credentials. */
  authfile?: string;
  /** How long a tag checked upstream is served without asking again. */
  tagTtlMs: number;
  /** Cached manifests not pulled for this long are removed (0: kept). */
  ttlMs: number;
}

export interface Mapped {
  upstream: Upstream;
  /** The repository's name upstream. */
  remote: string;
}

/**
 * Where a replica claims a fetch, on a store shared with others; how long it waits for others'
 * claims to land; how often the holder renews its claim while it fetches; when a claim not renewed
 * is abandoned.
 */
const claimPath = (key: string) => `/.lading-mirror/fetching/${key}`;
const claimSettleMs = 300;
const claimRenewMs = 30_000;
const claimStaleMs = 120_000;
/** Claim keys: a blob's by its digest's hex (as before manifests had claims), a manifest's apart. */
const blobClaim = (digest: Digest) => digest.hex;
const manifestClaim = (digest: Digest) => `manifest-${digest.hex}`;

/** A response header saying a tag was served from the cache without the upstream's word on it. */
export const staleHeader = "Warning";
const staleValue = '110 lading "Response is Stale"';

class Upstream {
  readonly transport: Transport;

  constructor(readonly settings: UpstreamSettings) {
    const host = settings.url.host;
    const credentials = settings.username === undefined ? undefined : { username: settings.username, password: settings.password ?? "" };
    this.transport = new Transport(host, {
      insecure: settings.url.protocol === "http:" ? [host] : false,
      // A down upstream is answered from the cache at once, not after a client's patient retries.
      retry: { retries: 1, baseDelayMs: 100, maxDelayMs: 500 },
      ...(credentials !== undefined ? { credentials } : settings.authfile !== undefined ? { auth: { authFile: settings.authfile } } : { anonymous: true }),
    });
  }
}

/**
 * A pull-through cache of upstream registries: a pull of a mapped repository that the store lacks
 * is fetched upstream (one fetch however many ask at once), verified against its digest, stored
 * in the ordinary layout and served; later pulls are local. A tag is asked upstream again (a HEAD,
 * which Docker Hub does not count against its pull limit) once `tagTtl` has passed; while the
 * upstream is down, refuses or rate-limits, what the cache holds is served, marked stale.
 */
export class Mirror {
  private readonly upstreams: Upstream[];
  /** `local\ntag` → when the upstream last confirmed the tag's digest here. */
  private readonly checked = new Lru<string, number>(4 << 20, (_, key) => keyBytes(key) + 16);
  /** Local repository → the upstream's tags, and when it listed them. */
  private readonly tagLists = new Lru<string, { tags: string[]; at: number }>(8 << 20, (list, key) => keyBytes(key) + list.tags.reduce((sum, tag) => sum + keyBytes(tag), 0));
  private readonly fetching = new Map<string, Promise<unknown>>();
  private readonly replicaId = randomUUID();
  readonly retention: MirrorRetention;

  constructor(
    private readonly registry: Registry,
    upstreams: readonly UpstreamSettings[],
    private readonly log: Logger,
  ) {
    // The longest prefix decides.
    this.upstreams = upstreams.map((u) => new Upstream(u)).sort((a, b) => b.settings.prefix.length - a.settings.prefix.length);
    this.retention = new MirrorRetention(registry, (name) => this.mapped(name)?.upstream.settings.ttlMs, log);
  }

  /** Removes what was not pulled within its upstream's ttl, from time to time, while serving. */
  startRetention(): void {
    const ttls = this.upstreams.map((u) => u.settings.ttlMs).filter((ms) => ms > 0);
    if (ttls.length > 0) this.retention.start(Math.max(100, Math.min(60 * 60_000, Math.min(...ttls) / 4)));
  }

  /** The upstream a local repository mirrors, if any. */
  mapped(name: string): Mapped | undefined {
    for (const upstream of this.upstreams) {
      const prefix = upstream.settings.prefix;
      if (prefix === "") return { upstream, remote: name };
      if (name.startsWith(`${prefix}/`)) return { upstream, remote: name.slice(prefix.length + 1) };
    }
    return undefined;
  }

  /** The local repository a client names with `?ns=` (the Registry Proxying section of the distribution spec), if an upstream is that namespace. */
  localName(namespace: string, name: string): string | undefined {
    const upstream = this.upstreams.find((u) => u.settings.namespace === namespace);
    if (upstream === undefined) return undefined;
    return upstream.settings.prefix === "" ? name : `${upstream.settings.prefix}/${name}`;
  }

  /**
   * A manifest of a mirrored repository: by digest from the store, or fetched; by tag from the
   * store while checked recently, else as the upstream names it now, else (the upstream away) as
   * the store has it, stale.
   */
  async manifest(name: string, mapped: Mapped, reference: { tag: string } | { digest: Digest }): Promise<{ manifest: StoredManifest; stale: boolean }> {
    const found = await this.lookup(name, mapped, reference);
    this.retention.pulled(name, found.manifest.digest.value);
    return found;
  }

  private async lookup(name: string, mapped: Mapped, reference: { tag: string } | { digest: Digest }): Promise<{ manifest: StoredManifest; stale: boolean }> {
    if ("digest" in reference) {
      const local = await this.registry.manifests.get(name, reference).catch(notFound);
      if (local !== undefined) return { manifest: local, stale: false };
      return { manifest: await this.once(`m\n${name}\n${reference.digest.value}`, () => this.sharedManifest(name, mapped, reference.digest, undefined)), stale: false };
    }
    const key = `${name}\n${reference.tag}`;
    const local = await this.registry.manifests.get(name, reference).catch(notFound);
    const checkedAt = this.checked.get(key);
    if (local !== undefined && checkedAt !== undefined && Date.now() - checkedAt < mapped.upstream.settings.tagTtlMs) return { manifest: local, stale: false };
    try {
      const manifest = await this.once(`t\n${key}`, async () => {
        const named = await this.upstreamDigest(mapped, reference.tag);
        const digest = named === undefined ? undefined : parseDigest(named);
        let stored: StoredManifest;
        if (local !== undefined && digest?.value === local.digest.value) stored = local;
        else if (digest !== undefined) stored = await this.sharedManifest(name, mapped, digest, reference.tag);
        else stored = await this.fetchManifest(name, mapped, reference.tag, reference.tag);
        this.checked.set(key, Date.now());
        return stored;
      });
      return { manifest, stale: false };
    } catch (err) {
      if (local === undefined || (err instanceof RegistryError && err.status === 404)) throw err;
      this.log.warn({ repository: name, tag: reference.tag, upstream: mapped.upstream.settings.url.host, err: (err as Error).message }, "mirror: the upstream did not answer for a tag; the cached one is served, stale");
      return { manifest: local, stale: true };
    }
  }

  /**
   * The tags of a mirrored repository, as the upstream lists them (registry:2's proxy lists the
   * upstream's too: a client asking which tags there are means the upstream's, not those pulled so
   * far), sorted, listed again after the tag TTL; while the upstream fails, the cached tags, stale.
   */
  async tags(name: string, mapped: Mapped): Promise<{ tags: string[]; stale: boolean }> {
    const known = this.tagLists.get(name);
    if (known !== undefined && Date.now() - known.at < mapped.upstream.settings.tagTtlMs) return { tags: known.tags, stale: false };
    try {
      const tags = await this.once(`l\n${name}`, async () => {
        const listed = [...new Set(await this.upstreamTags(mapped))].sort();
        this.tagLists.set(name, { tags: listed, at: Date.now() });
        return listed;
      });
      return { tags, stale: false };
    } catch (err) {
      if (err instanceof RegistryError && err.status === 404) throw err;
      const cached = await this.registry.tags.list(name).catch(() => undefined);
      if (cached === undefined) throw err;
      this.log.warn({ repository: name, upstream: mapped.upstream.settings.url.host, err: (err as Error).message }, "mirror: the upstream did not list the tags; the cached ones are served, stale");
      return { tags: cached, stale: true };
    }
  }

  private async upstreamTags(mapped: Mapped): Promise<string[]> {
    try {
      return await collect(listTags(mapped.upstream.transport, mapped.remote));
    } catch (err) {
      throw this.upstreamError(mapped, err, "tag list");
    }
  }

  /** Marks a response served from the cache without the upstream's confirmation. */
  static markStale(res: ServerResponse): void {
    res.setHeader(staleHeader, staleValue);
  }

  /**
   * A blob of a mirrored repository the store lacks: fetched once however many ask (on a shared
   * store, however many replicas), streamed to the first asker as it is stored; the others are
   * served from the store once it is there. Returns false when the first asker was served here,
   * true when the store now has it.
   */
  async blob(name: string, mapped: Mapped, digest: Digest, res: ServerResponse | undefined): Promise<boolean> {
    const key = `b\n${name}\n${digest.value}`;
    const running = this.fetching.get(key);
    if (running !== undefined || res === undefined) {
      await (running ?? this.once(key, () => this.fetchShared(name, mapped, digest, undefined)));
      return true;
    }
    return (await this.once(key, () => this.fetchShared(name, mapped, digest, res))) !== "streamed";
  }

  /**
   * The fetch of a blob by whichever replica claims it first: a claim object in the store, read
   * back after a moment (the last writer holds it); the others wait for the blob to appear, and
   * fetch it themselves if the claim is dropped or goes stale without it. Best effort: two
   * replicas that miss more than `claimSettleMs` apart may both fetch.
   */
  private async fetchShared(name: string, mapped: Mapped, digest: Digest, res: ServerResponse | undefined): Promise<"streamed" | "stored"> {
    const present = async () => ((await this.registry.blobs.sizeIn(name, digest)) === undefined ? undefined : ("stored" as const));
    return this.acrossReplicas(blobClaim(digest), present, async () => {
      await this.fetchBlob(name, mapped, digest, res);
      return res === undefined ? "stored" : "streamed";
    });
  }

  /**
   * A manifest the store lacks, by digest (tagged `tag` when given), fetched by one replica of
   * those sharing the store; the others take it from the store once it is there.
   */
  private async sharedManifest(name: string, mapped: Mapped, digest: Digest, tag: string | undefined): Promise<StoredManifest> {
    const present = async (): Promise<StoredManifest | undefined> => {
      const stored = await this.registry.manifests.get(name, { digest }).catch(notFound);
      // Another replica fetched it by digest, or for another tag: tagged here too (the same bytes put again).
      if (stored === undefined || tag === undefined || (await this.registry.tags.resolve(name, tag))?.value === digest.value) return stored;
      return this.registry.manifests.put(name, { tag }, stored.body, stored.mediaType, [], { sparse: true });
    };
    return this.acrossReplicas(manifestClaim(digest), present, () => this.fetchManifest(name, mapped, digest.value, tag));
  }

  /**
   * Upstream work done once for every replica sharing the store: whichever claims `key` first
   * does it (renewing its claim while it works); the others wait until `present` finds the result
   * in the store, and do it themselves if the claim ends or goes stale without it. Best effort:
   * two replicas that miss more than `claimSettleMs` apart may both do it.
   */
  private async acrossReplicas<T>(key: string, present: () => Promise<T | undefined>, work: () => Promise<T>): Promise<T> {
    const claimed = await this.claim(key);
    if (!claimed) {
      const found = await this.waitFor(key, present);
      if (found !== undefined) return found;
    }
    const renewing = claimed && !this.registry.driver.capabilities.exclusive ? setInterval(() => void this.writeClaim(key).catch(() => undefined), claimRenewMs) : undefined;
    try {
      return await work();
    } finally {
      clearInterval(renewing);
      if (claimed) await this.registry.driver.delete(claimPath(key)).catch(() => undefined);
    }
  }

  /** Whether this replica takes a fetch; always where it owns the store. */
  private async claim(key: string): Promise<boolean> {
    if (this.registry.driver.capabilities.exclusive) return true;
    const held = await this.readClaim(key);
    if (held !== undefined && held.id !== this.replicaId && Date.now() - held.at < claimStaleMs) return false;
    await this.writeClaim(key);
    await new Promise((resolve) => setTimeout(resolve, claimSettleMs));
    return (await this.readClaim(key))?.id === this.replicaId;
  }

  private async writeClaim(key: string): Promise<void> {
    await this.registry.driver.putContent(claimPath(key), Buffer.from(JSON.stringify({ id: this.replicaId, at: Date.now() })));
  }

  private async readClaim(key: string): Promise<{ id: string; at: number } | undefined> {
    try {
      return JSON.parse((await this.registry.driver.getContent(claimPath(key))).toString("utf8")) as { id: string; at: number };
    } catch (err) {
      if (isPathNotFound(err) || err instanceof SyntaxError) return undefined;
      throw err;
    }
  }

  /** Waits for another replica's work: its result once in the store; undefined when its claim ends or goes stale without it. */
  private async waitFor<T>(key: string, present: () => Promise<T | undefined>): Promise<T | undefined> {
    for (;;) {
      const found = await present();
      if (found !== undefined) return found;
      const held = await this.readClaim(key);
      if (held === undefined || Date.now() - held.at >= claimStaleMs) return present();
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** The blob's size upstream, for a HEAD of a blob the store lacks (nothing is fetched). */
  async blobSize(mapped: Mapped, digest: Digest): Promise<number> {
    const res = await this.call(mapped, { method: "HEAD", path: `/v2/${mapped.remote}/blobs/${digest.value}`, expect: [200] }, "blob");
    res.body.resume();
    return Number(header(res.headers, "content-length") ?? 0);
  }

  private once<T>(key: string, work: () => Promise<T>): Promise<T> {
    const running = this.fetching.get(key) as Promise<T> | undefined;
    if (running !== undefined) return running;
    const started = work().finally(() => this.fetching.delete(key));
    this.fetching.set(key, started);
    return started;
  }

  /** The digest a tag names upstream now, by HEAD; undefined when the upstream does not say (then the manifest is fetched). */
  private async upstreamDigest(mapped: Mapped, tag: string): Promise<string | undefined> {
    const res = await this.call(mapped, { method: "HEAD", path: `/v2/${mapped.remote}/manifests/${tag}`, headers: { accept: manifestAccept }, expect: [200] }, "manifest");
    res.body.resume();
    return header(res.headers, "docker-content-digest");
  }

  /** Fetches a manifest by digest or tag, checks its digest, stores it (by tag when given) and returns it. */
  private async fetchManifest(name: string, mapped: Mapped, reference: string, tag: string | undefined): Promise<StoredManifest> {
    const res = await this.call(mapped, { method: "GET", path: `/v2/${mapped.remote}/manifests/${reference}`, headers: { accept: manifestAccept }, expect: [200] }, "manifest");
    const body = await readBody(res.body, this.registry.options.maxSize);
    const expected = parseDigest(reference) ?? parseDigest(header(res.headers, "docker-content-digest") ?? "");
    const actual = digestOf(body, expected?.algorithm);
    if (expected !== undefined && actual !== expected.value) {
      throw new RegistryError("UNAVAILABLE", `the upstream ${mapped.upstream.settings.url.host} sent a manifest for ${mapped.remote}@${expected.value} whose digest is ${actual}: refused, nothing stored`, { status: 502 });
    }
    const contentType = header(res.headers, "content-type");
    const stored = await this.registry.manifests.put(name, tag === undefined ? { digest: parseDigest(actual)! } : { tag }, body, contentType, [], { sparse: true });
    this.log.info({ repository: name, reference, digest: stored.digest.value, upstream: mapped.upstream.settings.url.host }, "mirror: manifest cached");
    return stored;
  }

  /**
   * Fetches a blob, checking its digest as the bytes pass, into the store; with `res`, the same
   * bytes go to that client as they come, the last piece held back until the digest is known (a
   * blob that does not match its digest reaches the client cut short, and is not stored).
   */
  private async fetchBlob(name: string, mapped: Mapped, digest: Digest, res: ServerResponse | undefined): Promise<void> {
    const upstream = await this.call(mapped, { method: "GET", path: `/v2/${mapped.remote}/blobs/${digest.value}`, expect: [200] }, "blob");
    const length = Number(header(upstream.headers, "content-length") ?? NaN);
    const hash = newHash(digest.algorithm);
    const toStore = new PassThrough({ highWaterMark: 1 << 20 });
    let client: ServerResponse | undefined = res;
    if (client !== undefined) {
      client.writeHead(200, { "Content-Type": "application/octet-stream", "Docker-Content-Digest": digest.value, ...(Number.isFinite(length) ? { "Content-Length": length } : {}) });
      client.once("close", () => (client = undefined));
    }
    const storing = this.registry.uploads.putWhole(name, digest, toStore, Number.isFinite(length) ? { length } : {});
    let held: Buffer | undefined;
    try {
      await relay(upstream.body, async (chunk) => {
        hash.update(chunk);
        if (held !== undefined && client !== undefined && !client.write(held)) await drained(client);
        held = chunk;
        if (!toStore.write(chunk)) await drained(toStore);
      });
      toStore.end();
      await storing;
    } catch (err) {
      toStore.destroy(err as Error);
      await storing.catch(() => undefined);
      client?.destroy();
      throw err;
    }
    const actual = hash.digest("hex");
    if (actual !== digest.hex) {
      client?.destroy();
      throw new RegistryError("UNAVAILABLE", `the upstream sent other bytes for blob ${digest.value}: refused, nothing stored`, { status: 502 });
    }
    if (client !== undefined) client.end(held);
    this.log.info({ repository: name, digest: digest.value, upstream: mapped.upstream.settings.url.host }, "mirror: blob cached");
  }

  /** A request upstream; its failures as the registry's errors. */
  private async call(mapped: Mapped, req: { method: "GET" | "HEAD"; path: string; headers?: Record<string, string>; expect: number[] }, what: "manifest" | "blob") {
    try {
      return await mapped.upstream.transport.request({ ...req, scopes: [pull(mapped.remote)] });
    } catch (err) {
      throw this.upstreamError(mapped, err, what);
    }
  }

  /** An upstream's failure as the registry's error: 404 stays 404, 429 stays 429, the rest say the upstream failed. */
  private upstreamError(mapped: Mapped, err: unknown, what: "manifest" | "blob" | "tag list"): unknown {
    if (!(err instanceof ClientError)) return err;
    const host = mapped.upstream.settings.url.host;
    if (err instanceof ResponseError && err.status === 404) {
      const code = what === "manifest" ? "MANIFEST_UNKNOWN" : what === "blob" ? "BLOB_UNKNOWN" : "NAME_UNKNOWN";
      return new RegistryError(code, `${what} unknown to the upstream ${host} (${mapped.remote})`);
    }
    if (err instanceof ResponseError && err.status === 429) {
      return new RegistryError("TOOMANYREQUESTS", `the upstream ${host} is rate-limiting this mirror, and the cache does not hold this ${what}`, {
        ...(err.retryAfterMs === undefined ? {} : { headers: { "Retry-After": String(Math.ceil(err.retryAfterMs / 1000)) } }),
      });
    }
    return new RegistryError("UNAVAILABLE", `the upstream ${host} failed (${err.message}), and the cache does not hold this ${what}`, { cause: err });
  }
}

function notFound(err: unknown): undefined {
  if (err instanceof RegistryError && (err.code === "MANIFEST_UNKNOWN" || err.code === "NAME_UNKNOWN")) return undefined;
  throw err;
}

/** Reads a stream chunk by chunk, waiting on `each` (its backpressure) before the next. */
async function relay(source: Readable, each: (chunk: Buffer) => Promise<void>): Promise<void> {
  for await (const chunk of source) await each(chunk as Buffer);
}

function drained(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.once("drain", done);
    stream.once("close", done);
  });
}
