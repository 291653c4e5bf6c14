import type { Grant } from "../auth/policy.js";
import { allows } from "../auth/policy.js";
import { parseDigest, type Digest } from "../oci/digest.js";
import { RegistryError } from "../oci/errors.js";
import type { Descriptor, Platform } from "../oci/manifest.js";
import { isValidTag } from "../oci/reference.js";
import { formatPlatform } from "../image/platform.js";
import { inParallel } from "../image/parallel.js";
import { coherenceFor, type Coherence } from "../registry/coherence.js";
import type { Registry } from "../registry/index.js";
import { keyBytes, Lru } from "../registry/lru.js";
import { mediaTypes } from "../oci/mediatypes.js";
import { tagCurrentLinkPath } from "../storage/paths.js";
import type { ConfigView, ImageView, Page, ReferrerNode, RepositoryRow, TagRow, TagSort } from "./types.js";

export type { TagSort };

/** What is known of a manifest by its digest (so it never changes): what the lists show of it. */
interface ImageFacts {
  mediaType: string;
  /** Read when a row shows them: an image's platform is in its config, which sizes do not need. */
  platforms(): Promise<string[]>;
  /** The manifest itself and every blob and manifest it reaches, by digest. */
  parts: Map<string, number>;
}

interface TagEntry {
  tag: string;
  digest: Digest;
  pushed: number | undefined;
}

/** One repository's tags as last read, and the summary made of them. */
interface Table {
  version: number;
  at: number;
  entries: TagEntry[];
  summary?: Promise<RepositoryRow>;
}

const maxReferrerDepth = 4;
const platformText = (p: Partial<Platform> | undefined): string | null =>
  p?.os === undefined || p.architecture === undefined ? null : formatPlatform({ os: p.os, architecture: p.architecture, ...(p.variant ? { variant: p.variant } : {}) });

/**
 * What the web UI shows, made of what the registry keeps: the catalog it holds in memory, tag lists
 * and links, and manifests and configs by digest. Facts named by a digest are kept until evicted;
 * a repository's tag table is kept while no tag of it changes in this process and, on a shared
 * store, for as long as the catalog is believed (coherence.ts), so a page never walks the store.
 */
export class RegistryViews {
  private readonly facts = new Lru<string, Promise<ImageFacts>>(32 << 20, (_, key) => keyBytes(key) + 2048);
  private readonly tables = new Lru<string, Table>(64 << 20, (table, key) => keyBytes(key) + 256 + table.entries.length * 160);
  private readonly coherence: Coherence;

  constructor(readonly registry: Registry) {
    this.coherence = coherenceFor(registry.driver);
  }

  /** Repositories the grant may pull whose names contain `query`, one page of them with their summaries. */
  async repositories(grant: Grant, query: string, page: number, perPage: number): Promise<Page<RepositoryRow>> {
    const needle = query.trim().toLowerCase();
    const names = (await this.registry.repositories()).filter((name) => (needle === "" || name.toLowerCase().includes(needle)) && allows(grant, name, "pull"));
    const items = await inParallel(slice(names, page, perPage), 8, (name) => this.summary(name));
    return { total: names.length, page, perPage, items };
  }

  /** One repository's summary: tag count, size, last push. */
  async summary(name: string): Promise<RepositoryRow> {
    const table = await this.table(name);
    table.summary ??= (async () => {
      const facts = await inParallel(table.entries, 16, (entry) => this.factsOf(name, entry.digest).catch(() => undefined));
      const parts = new Map<string, number>();
      for (const f of facts) for (const [digest, size] of f?.parts ?? []) parts.set(digest, size);
      const pushed = table.entries.reduce((latest, e) => Math.max(latest, e.pushed ?? -Infinity), -Infinity);
      return { name, tags: table.entries.length, size: [...parts.values()].reduce((a, b) => a + b, 0), lastPush: Number.isFinite(pushed) ? new Date(pushed).toISOString() : null };
    })();
    return table.summary;
  }

  /** One page of a repository's tags, sorted. */
  async tags(name: string, sort: TagSort, descending: boolean, page: number, perPage: number): Promise<Page<TagRow>> {
    const table = await this.table(name);
    let entries = table.entries;
    const rowOf = async (e: TagEntry): Promise<TagRow> => {
      const f = await this.factsOf(name, e.digest).catch(() => undefined);
      return { tag: e.tag, digest: e.digest.value, mediaType: f?.mediaType ?? "", platforms: (await f?.platforms()) ?? [], size: f === undefined ? 0 : total(f.parts), pushed: e.pushed === undefined ? null : new Date(e.pushed).toISOString() };
    };
    if (sort === "size") {
      // Sorting by size needs every tag's manifest (kept by digest: only the first sort pays), not its config.
      const sizes = await inParallel(entries, 16, async (e) => total((await this.factsOf(name, e.digest).catch(() => undefined))?.parts ?? new Map()));
      const bySize = new Map(entries.map((e, i) => [e, sizes[i]!]));
      entries = [...entries].sort((a, b) => bySize.get(a)! - bySize.get(b)! || compare(a.tag, b.tag));
    }
    if (sort === "pushed") entries = [...entries].sort((a, b) => (a.pushed ?? 0) - (b.pushed ?? 0) || compare(a.tag, b.tag));
    if (descending) entries = [...entries].reverse();
    return { total: entries.length, page, perPage, items: await inParallel(slice(entries, page, perPage), 16, rowOf) };
  }

  /** A manifest by tag or digest, with its config, layers, history and referrers. */
  async image(name: string, reference: string): Promise<ImageView> {
    const digest = parseDigest(reference);
    if (digest === undefined && !isValidTag(reference)) throw new RegistryError("MANIFEST_INVALID", `invalid reference ${JSON.stringify(reference)}`, { status: 400 });
    const stored = await this.registry.manifests.get(name, digest === undefined ? { tag: reference } : { digest });
    const json = JSON.parse(stored.body.toString("utf8")) as ManifestJson;
    const table = await this.table(name);
    const view: ImageView = {
      repository: name,
      digest: stored.digest.value,
      mediaType: stored.mediaType,
      size: total((await this.factsOf(name, stored.digest)).parts),
      tags: table.entries.filter((e) => e.digest.value === stored.digest.value).map((e) => e.tag),
      artifactType: json.artifactType ?? null,
      annotations: json.annotations ?? {},
      manifests: (json.manifests ?? []).map((m) => ({ digest: m.digest, mediaType: m.mediaType, size: m.size, platform: platformText(m.platform), artifactType: m.artifactType ?? null })),
      config: null,
      layers: (json.layers ?? []).map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size, urls: l.urls ?? [] })),
      history: [],
      referrers: await this.referrers(name, stored.digest, 0),
    };
    if (json.config !== undefined) {
      const config = await this.configOf(json.config);
      view.config = configView(json.config, config);
      view.history = (config?.history ?? []).map((h) => ({ created: h.created ?? null, createdBy: h.created_by ?? "", comment: h.comment ?? null, emptyLayer: h.empty_layer === true }));
    }
    return view;
  }

  private async referrers(name: string, subject: Digest, depth: number): Promise<ReferrerNode[]> {
    if (depth >= maxReferrerDepth) return [];
    const found = await this.registry.manifests.referrers(name, subject);
    return inParallel(found, 8, async (d) => {
      const digest = parseDigest(d.digest);
      return {
        digest: d.digest,
        mediaType: d.mediaType,
        artifactType: d.artifactType ?? null,
        size: d.size,
        annotations: d.annotations ?? {},
        referrers: digest === undefined ? [] : await this.referrers(name, digest, depth + 1),
      };
    });
  }

  /** The tags of a repository with their digests and push times, read once per change. */
  private async table(name: string): Promise<Table> {
    const version = this.registry.tags.version(name);
    const kept = this.tables.get(name);
    const fresh = this.coherence.catalogMs === Infinity || Date.now() - (kept?.at ?? 0) <= this.coherence.catalogMs;
    if (kept !== undefined && kept.version === version && fresh) return kept;
    const at = Date.now();
    const tags = await this.registry.tags.list(name);
    const entries = await inParallel(tags, 32, async (tag): Promise<TagEntry | undefined> => {
      const digest = await this.registry.tags.resolve(name, tag).catch(() => undefined);
      if (digest === undefined) return undefined;
      const info = await this.registry.driver.stat(tagCurrentLinkPath(name, tag)).catch(() => undefined);
      return { tag, digest, pushed: info?.modTime.getTime() };
    });
    const table: Table = { version, at, entries: entries.filter((e): e is TagEntry => e !== undefined) };
    this.tables.set(name, table);
    return table;
  }

  private factsOf(name: string, digest: Digest): Promise<ImageFacts> {
    let facts = this.facts.get(digest.value);
    if (facts === undefined) {
      // The bytes by digest, without the checks a manifest GET makes: a tag or an index named it in this repository.
      facts = this.registry.blobs.read(digest).then((body) => {
        if (body === undefined) throw new RegistryError("MANIFEST_UNKNOWN", `manifest ${digest.value} is not stored`);
        return this.makeFacts(name, digest, body);
      });
      facts.catch(() => this.facts.delete(digest.value));
      this.facts.set(digest.value, facts);
    }
    return facts;
  }

  private async makeFacts(name: string, digest: Digest, body: Buffer): Promise<ImageFacts> {
    const json = JSON.parse(body.toString("utf8")) as ManifestJson;
    const index = Array.isArray(json.manifests);
    const mediaType = json.mediaType ?? (index ? mediaTypes.ociIndex : mediaTypes.ociManifest);
    const parts = new Map<string, number>([[digest.value, body.length]]);
    if (index) {
      const platforms: string[] = [];
      for (const m of json.manifests ?? []) {
        const platform = platformText(m.platform);
        // Attestation manifests (BuildKit's) carry the platform unknown/unknown: not a platform one can run.
        if (platform !== null && platform !== "unknown/unknown" && !platforms.includes(platform)) platforms.push(platform);
        const child = parseDigest(m.digest);
        const facts = child === undefined ? undefined : await this.factsOf(name, child).catch(() => undefined);
        if (facts === undefined) parts.set(m.digest, m.size);
        for (const [d, size] of facts?.parts ?? []) parts.set(d, size);
      }
      return { mediaType, platforms: async () => platforms, parts };
    }
    for (const l of [...(json.config === undefined ? [] : [json.config]), ...(json.layers ?? [])]) parts.set(l.digest, l.size);
    let platforms: Promise<string[]> | undefined;
    const configDescriptor = json.config;
    const readPlatforms = async (): Promise<string[]> => {
      const platform = platformText(configDescriptor === undefined ? undefined : await this.configOf(configDescriptor));
      return platform === null ? [] : [platform];
    };
    return { mediaType, platforms: () => (platforms ??= readPlatforms()), parts };
  }

  /** An image config, when the descriptor names one (an artifact's config is not). */
  private async configOf(descriptor: Descriptor): Promise<ImageConfigJson | undefined> {
    if (!/^application\/vnd\.(oci\.image\.config\.v1|docker\.container\.image\.v1)\+json$/.test(descriptor.mediaType)) return undefined;
    const digest = parseDigest(descriptor.digest);
    const bytes = digest === undefined ? undefined : await this.registry.blobs.read(digest).catch(() => undefined);
    if (bytes === undefined) return undefined;
    try {
      return JSON.parse(bytes.toString("utf8")) as ImageConfigJson;
    } catch {
      return undefined;
    }
  }
}

interface ManifestJson {
  mediaType?: string;
  artifactType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
  annotations?: Record<string, string>;
}

interface ImageConfigJson {
  os?: string;
  architecture?: string;
  variant?: string;
  created?: string;
  config?: {
    User?: string;
    WorkingDir?: string;
    Env?: string[] | null;
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    Labels?: Record<string, string> | null;
    ExposedPorts?: Record<string, unknown> | null;
    Volumes?: Record<string, unknown> | null;
    StopSignal?: string;
  };
  history?: { created?: string; created_by?: string; comment?: string; empty_layer?: boolean }[];
}

function configView(descriptor: Descriptor, config: ImageConfigJson | undefined): ConfigView {
  const c = config?.config ?? {};
  return {
    digest: descriptor.digest,
    mediaType: descriptor.mediaType,
    platform: platformText(config),
    created: config?.created ?? null,
    user: c.User || null,
    workingDir: c.WorkingDir || null,
    env: c.Env ?? [],
    entrypoint: c.Entrypoint ?? null,
    cmd: c.Cmd ?? null,
    labels: c.Labels ?? {},
    exposedPorts: Object.keys(c.ExposedPorts ?? {}),
    volumes: Object.keys(c.Volumes ?? {}),
    stopSignal: c.StopSignal || null,
  };
}

const total = (parts: Map<string, number>) => [...parts.values()].reduce((a, b) => a + b, 0);
const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function slice<T>(items: readonly T[], page: number, perPage: number): T[] {
  return items.slice((page - 1) * perPage, page * perPage);
}
