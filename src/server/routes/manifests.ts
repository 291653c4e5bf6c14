import { parseDigest } from "../../oci/digest.js";
import { RegistryError } from "../../oci/errors.js";
import type { Descriptor } from "../../oci/manifest.js";
import { bareMediaType, imageManifestTypes } from "../../oci/mediatypes.js";
import type { ManifestReference, StoredManifest } from "../../registry/manifests.js";
import { Mirror } from "../../mirror/mirror.js";
import { isValidTag } from "../../oci/reference.js";
import { header, readBody, sendEmpty, urlFor, type Context } from "../context.js";
import { manifestReference } from "./params.js";

/** Most tags one PUT may set with `?tag=` (the spec asks for at least 10). */
const maxTagsPerPut = 100;

/**
 * GET and HEAD /v2/<name>/manifests/<reference>. The stored bytes are served as they were pushed:
 * a digest names bytes, and converting would change them. The one negotiation is registry:2's for
 * clients that accept image manifests but not indexes: they get the index's linux/amd64 image.
 */
export async function getManifest(ctx: Context): Promise<void> {
  const name = ctx.params.name!;
  const reference = manifestReference(ctx);
  const stored = await lookup(ctx, name, reference);
  // A digest names exact bytes; only a tag leaves room for choice.
  const manifest = "tag" in reference ? await negotiate(ctx, name, stored) : stored;
  const etag = `"${manifest.digest.value}"`;
  const headers = {
    "Content-Type": manifest.mediaType,
    "Content-Length": manifest.body.length,
    "Docker-Content-Digest": manifest.digest.value,
    ETag: etag,
  };
  if (header(ctx.req, "if-none-match") === etag) {
    ctx.res.writeHead(304, headers);
    ctx.res.end();
    return;
  }
  ctx.res.writeHead(200, headers);
  ctx.res.end(ctx.req.method === "HEAD" ? undefined : manifest.body);
}

async function negotiate(ctx: Context, name: string, manifest: StoredManifest): Promise<StoredManifest> {
  if (manifest.parsed.kind !== "index") return manifest;
  const accepted = acceptedTypes(header(ctx.req, "accept"));
  if (accepted === undefined || accepted.has(manifest.mediaType) || ![...accepted].some((type) => imageManifestTypes.has(type))) return manifest;
  const children = childDescriptors(manifest.body);
  const child = children.find((c) => c.platform?.os === "linux" && c.platform.architecture === "amd64") ?? children[0];
  const digest = child && accepted.has(child.mediaType) ? parseDigest(child.digest) : undefined;
  if (!digest) return manifest;
  return lookup(ctx, name, { digest }).catch(() => manifest);
}

/** A manifest from the store, or through the pull-through cache for a mirrored repository (marked when stale). */
async function lookup(ctx: Context, name: string, reference: ManifestReference): Promise<StoredManifest> {
  const mirror = ctx.registry.mirror;
  const mapped = mirror?.mapped(name);
  if (mirror === undefined || mapped === undefined) return ctx.registry.manifests.get(name, reference);
  const { manifest, stale } = await mirror.manifest(name, mapped, reference);
  if (stale) Mirror.markStale(ctx.res);
  return manifest;
}

/** The media types an Accept header names; undefined when it allows anything. */
function acceptedTypes(accept: string | undefined): Set<string> | undefined {
  if (accept === undefined || accept.trim() === "") return undefined;
  const types = new Set(accept.split(",").map((part) => bareMediaType(part)));
  return types.has("*/*") || types.has("application/*") ? undefined : types;
}

function childDescriptors(body: Buffer): Descriptor[] {
  const json = JSON.parse(body.toString("utf8")) as { manifests?: Descriptor[] };
  return Array.isArray(json.manifests) ? json.manifests : [];
}

/** PUT /v2/<name>/manifests/<reference>[?tag=...]. */
export async function putManifest(ctx: Context): Promise<void> {
  const name = ctx.params.name!;
  const reference = manifestReference(ctx);
  const tags = ctx.query.getAll("tag");
  if (tags.length > maxTagsPerPut) throw new RegistryError("UNSUPPORTED", `at most ${maxTagsPerPut} tags per request`, { status: 414 });
  for (const tag of tags) {
    if (!isValidTag(tag)) throw new RegistryError("MANIFEST_INVALID", `invalid tag ${JSON.stringify(tag)}`, { detail: { tag } });
  }
  const limit = ctx.registry.options.maxSize;
  const body = await readBody(ctx, limit, () => new RegistryError("MANIFEST_INVALID", `manifest exceeds the ${limit}-byte limit`, { status: 413 }));
  const stored = await ctx.registry.manifests.put(name, reference, body, header(ctx.req, "content-type"), tags);
  const headers: Record<string, string | string[]> = {
    Location: urlFor(ctx, `/v2/${name}/manifests/${stored.digest.value}`),
    "Docker-Content-Digest": stored.digest.value,
  };
  if (tags.length > 0) headers["OCI-Tag"] = [...new Set(tags)];
  if (stored.parsed.subject) headers["OCI-Subject"] = stored.parsed.subject.value;
  sendEmpty(ctx, 201, headers);
}

/** DELETE /v2/<name>/manifests/<reference>: by digest the manifest and its tags; by tag only the tag. */
export async function deleteManifest(ctx: Context): Promise<void> {
  const name = ctx.params.name!;
  const reference = manifestReference(ctx);
  if ("tag" in reference) {
    if (!(await ctx.registry.tags.untag(name, reference.tag))) {
      throw new RegistryError("MANIFEST_UNKNOWN", `tag ${reference.tag} not found`, { detail: { tag: reference.tag } });
    }
  } else {
    ctx.untagged = await ctx.registry.manifests.delete(name, reference.digest);
  }
  sendEmpty(ctx, 202);
}
