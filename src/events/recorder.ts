import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { parseDigest } from "../oci/digest.js";
import { bareMediaType } from "../oci/mediatypes.js";
import type { Config } from "../config/schema.js";
import type { Registry } from "../registry/index.js";
import { urlFor, type Context } from "../server/context.js";
import { addressOf } from "../server/auth/controller.js";
import { blobMediaType, type Descriptor, type EventObject, type QueuedEvent, type RegistryEvent } from "./event.js";

/** What a response says of itself, once sent. */
const header = (ctx: Context, name: string): string | undefined => {
  const value = ctx.res.getHeader(name);
  return value === undefined ? undefined : String(value);
};

/**
 * Turns a request the registry answered into the events registry:2 would send for it: manifest and
 * blob pulls (GET and HEAD, not a 304), pushes (a manifest PUT, once per tag it sets; an upload
 * completed), mounts, and deletes (a manifest by digest or a tag, a blob).
 */
export class EventRecorder {
  private readonly instanceID = randomUUID();
  private readonly sourceAddr: string;

  constructor(
    private readonly registry: Registry,
    private readonly config: Config,
    private readonly includeReferences: boolean,
  ) {
    const port = /:(\d+)$/.exec(config.http.addr)?.[1] ?? "";
    this.sourceAddr = `${hostname()}:${port}`;
  }

  /** The events of one answered request (none for most). */
  async eventsOf(ctx: Context, status: number, requestId: string): Promise<QueuedEvent[]> {
    const method = ctx.req.method ?? "";
    const name = ctx.params.name;
    if (name === undefined || status >= 400 || status === 304) return [];
    const make = (object: EventObject, action: RegistryEvent["action"], target: RegistryEvent["target"]): QueuedEvent => ({ object, event: this.event(ctx, requestId, action, target) });
    const read = method === "GET" || method === "HEAD";
    // The web UI's deletes are the registry's deletes (src/ui/api.ts sets the same parameters).
    const route = (ctx.route === "ui tag" || ctx.route === "ui manifest") && method === "DELETE" ? "manifest" : ctx.route;
    switch (route) {
      case "manifest": {
        const reference = ctx.params.reference!;
        const byDigest = parseDigest(reference);
        if (method === "DELETE") {
          if (byDigest === undefined) return [make("tag", "delete", { repository: name, tag: reference })];
          // As registry:2 reports it: the manifest, then each tag that went with it.
          return [make("manifest", "delete", { digest: byDigest.value, repository: name }), ...(ctx.untagged ?? []).map((tag) => make("tag", "delete", { repository: name, tag }))];
        }
        const digest = header(ctx, "docker-content-digest");
        if (digest === undefined || !(read || method === "PUT")) return [];
        const size = Number(read ? header(ctx, "content-length") : ctx.bytesIn);
        const mediaType = read ? bareMediaType(header(ctx, "content-type") ?? "") : bareMediaType(String(ctx.req.headers["content-type"] ?? ""));
        const target = { mediaType, digest, size, length: size, repository: name, url: this.url(ctx, `/v2/${name}/manifests/${digest}`) };
        const references = this.includeReferences ? await this.references(name, digest) : undefined;
        const tags = byDigest === undefined ? [reference] : [];
        if (method === "PUT") tags.push(...ctx.query.getAll("tag").filter((t) => !tags.includes(t)));
        const withRefs = references === undefined ? target : { ...target, references };
        const action = read ? "pull" : "push";
        return tags.length === 0 ? [make("manifest", action, withRefs)] : tags.map((tag) => make("manifest", action, { ...withRefs, tag }));
      }
      case "blob": {
        const digest = ctx.params.digest!;
        if (method === "DELETE") return [make("blob", "delete", { digest, repository: name })];
        if (!read) return [];
        const size = Number(header(ctx, "content-length") ?? (await this.registry.blobs.size(parseDigest(digest)!)) ?? 0);
        return [make("blob", "pull", this.blobTarget(ctx, name, digest, size))];
      }
      case "upload":
      case "uploads": {
        if (status !== 201) return [];
        const digest = header(ctx, "docker-content-digest");
        const parsed = digest === undefined ? undefined : parseDigest(digest);
        if (parsed === undefined) return [];
        const size = (await this.registry.blobs.size(parsed)) ?? 0;
        const from = ctx.route === "uploads" ? ctx.query.get("from") : null;
        const mounted = ctx.query.get("mount") !== null && from !== null;
        const target = this.blobTarget(ctx, name, parsed.value, size);
        return [mounted ? make("blob", "mount", { ...target, fromRepository: from }) : make("blob", "push", target)];
      }
      default:
        return [];
    }
  }

  private blobTarget(ctx: Context, repository: string, digest: string, size: number): RegistryEvent["target"] {
    return { mediaType: blobMediaType, digest, size, length: size, repository, url: this.url(ctx, `/v2/${repository}/blobs/${digest}`) };
  }

  private event(ctx: Context, requestId: string, action: RegistryEvent["action"], target: RegistryEvent["target"]): RegistryEvent {
    const { req } = ctx;
    const principal = ctx.grant.principal;
    return {
      id: randomUUID(),
      timestamp: new Date().toISOString(),
      action,
      target,
      request: {
        id: requestId,
        addr: `${addressOf(req)}:${req.socket.remotePort ?? ""}`,
        ...(req.headers.host === undefined ? {} : { host: req.headers.host }),
        method: req.method ?? "",
        useragent: String(req.headers["user-agent"] ?? ""),
      },
      actor: principal.kind === "anonymous" ? {} : { name: principal.name },
      source: { addr: this.sourceAddr, instanceID: this.instanceID },
    };
  }

  /** As registry:2 makes it: the registry's own URL for it (urlFor), absolute from the request when http.host is not set. */
  private url(ctx: Context, path: string): string {
    const url = urlFor(ctx, path);
    if (url !== path || this.config.http.relativeurls) return url;
    const forwarded = ctx.req.headers["x-forwarded-proto"];
    const scheme = typeof forwarded === "string" ? forwarded.split(",")[0]!.trim() : this.config.http.tls ? "https" : "http";
    return `${scheme}://${ctx.req.headers.host ?? this.sourceAddr}${path}`;
  }

  /** What a manifest names: an index's manifests, an image's config and layers. */
  private async references(repository: string, digest: string): Promise<Descriptor[] | undefined> {
    const parsed = parseDigest(digest);
    if (parsed === undefined) return undefined;
    const stored = await this.registry.manifests.get(repository, { digest: parsed }).catch(() => undefined);
    if (stored === undefined) return undefined;
    const json = JSON.parse(stored.body.toString("utf8")) as { config?: Descriptor; layers?: Descriptor[]; manifests?: Descriptor[] };
    const descriptors = [...(json.config === undefined ? [] : [json.config]), ...(json.layers ?? []), ...(json.manifests ?? [])];
    return descriptors.map((d) => ({ mediaType: d.mediaType, digest: d.digest, size: d.size }));
  }
}
