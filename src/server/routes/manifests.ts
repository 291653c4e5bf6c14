import { RegistryError } from "../../oci/errors.js";
import { isValidTag } from "../../oci/reference.js";
import { header, readBody, sendEmpty, urlFor, type Context } from "../context.js";
import { checkDeletable, checkWritable, manifestReference } from "./params.js";

/** Most tags one PUT may set with `?tag=` (the spec asks for at least 10). */
const maxTagsPerPut = 100;

/**
 * GET and HEAD /v2/<name>/manifests/<reference>. The stored bytes are served as they were pushed,
 * whatever the Accept header: a digest names bytes, and converting would change them.
 */
export async function getManifest(ctx: Context): Promise<void> {
  const manifest = await ctx.registry.manifests.get(ctx.params.name!, manifestReference(ctx));
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

/** PUT /v2/<name>/manifests/<reference>[?tag=...]. */
export async function putManifest(ctx: Context): Promise<void> {
  checkWritable(ctx);
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
  checkDeletable(ctx);
  const name = ctx.params.name!;
  const reference = manifestReference(ctx);
  if ("tag" in reference) {
    if (!(await ctx.registry.tags.untag(name, reference.tag))) {
      throw new RegistryError("MANIFEST_UNKNOWN", `tag ${reference.tag} not found`, { detail: { tag: reference.tag } });
    }
  } else {
    await ctx.registry.manifests.delete(name, reference.digest);
  }
  sendEmpty(ctx, 202);
}
