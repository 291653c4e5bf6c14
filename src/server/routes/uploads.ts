import { allows } from "../../auth/policy.js";
import type { Digest } from "../../oci/digest.js";
import { RegistryError } from "../../oci/errors.js";
import { isValidName } from "../../oci/reference.js";
import type { ChunkClaim } from "../../registry/uploads.js";
import { addressOf } from "../auth/controller.js";
import { header, sendEmpty, urlFor, type Context } from "../context.js";
import { algorithmParam, digestParam } from "./params.js";

/**
 * POST /v2/<name>/blobs/uploads/: a cross-repository mount (`mount`, optional `from`), a
 * single-request upload (`digest`), or a new upload session.
 */
export async function startUpload(ctx: Context): Promise<void> {
  const name = ctx.params.name!;
  const mount = ctx.query.get("mount");
  if (mount !== null) {
    const digest = digestParam(mount, "mount digest");
    if (await mountBlob(ctx, name, digest, ctx.query.get("from"))) return;
  }
  const single = ctx.query.get("digest");
  if (single !== null) {
    const digest = digestParam(single);
    const { received } = await ctx.registry.uploads.putWhole(name, digest, ctx.req, claimOf(ctx, false));
    ctx.bytesIn += received;
    return sendCreated(ctx, name, digest);
  }
  ctx.req.resume();
  const id = await ctx.registry.uploads.start(name, algorithmParam(ctx.query.get("digest-algorithm")), addressOf(ctx.req));
  sendEmpty(ctx, 202, uploadHeaders(ctx, name, id, 0));
}

/**
 * A mount answers 201 only for a blob the caller may read: `from` must be a repository they may
 * pull, and a mount without `from` looks only in such repositories. Otherwise the request falls
 * back to a plain upload (202), which reveals nothing of what the registry holds.
 */
async function mountBlob(ctx: Context, name: string, digest: Digest, from: string | null): Promise<boolean> {
  const blobs = ctx.registry.blobs;
  if (from !== null && from !== "") {
    if (!isValidName(from)) throw new RegistryError("NAME_INVALID", `invalid repository name ${JSON.stringify(from)} in from`, { detail: { name: from } });
    if (!allows(ctx.grant, from, "pull") || !(await blobs.isLinked(from, digest))) return false;
  } else if (!(await readableAnywhere(ctx, digest))) {
    return false;
  }
  ctx.req.resume();
  // Gone meanwhile (a garbage collection): a plain upload instead.
  if (!(await blobs.link(name, digest))) return false;
  sendCreated(ctx, name, digest);
  return true;
}

/** Repositories looked into, at most, for a mount without `from` by a caller who may not read everything. */
const anonymousMountSearch = 1000;

async function readableAnywhere(ctx: Context, digest: Digest): Promise<boolean> {
  const { blobs } = ctx.registry;
  if ((await blobs.size(digest)) === undefined) return false;
  if (ctx.grant.all) return true;
  let looked = 0;
  for (const repository of await ctx.registry.repositories()) {
    if (!allows(ctx.grant, repository, "pull")) continue;
    if (await blobs.isLinked(repository, digest)) return true;
    if (++looked >= anonymousMountSearch) return false;
  }
  return false;
}

/** PATCH <location>: appends a chunk (Content-Range optional: docker streams one PATCH without it). */
export async function patchUpload(ctx: Context): Promise<void> {
  const { name, id } = ctx.params as { name: string; id: string };
  const { size, received } = await ctx.registry.uploads.append(name, id, ctx.req, claimOf(ctx, true));
  ctx.bytesIn += received;
  sendEmpty(ctx, 202, uploadHeaders(ctx, name, id, size));
}

/** PUT <location>?digest=: completes an upload, with or without a last chunk. */
export async function putUpload(ctx: Context): Promise<void> {
  const { name, id } = ctx.params as { name: string; id: string };
  const raw = ctx.query.get("digest");
  if (raw === null) {
    ctx.req.resume();
    throw new RegistryError("DIGEST_INVALID", "the digest query parameter is required to complete an upload");
  }
  const digest = digestParam(raw);
  const { received } = await ctx.registry.uploads.complete(name, id, digest, ctx.req, claimOf(ctx, true));
  ctx.bytesIn += received;
  sendCreated(ctx, name, digest);
}

/** GET <location>: how much has been received. */
export async function getUpload(ctx: Context): Promise<void> {
  const { name, id } = ctx.params as { name: string; id: string };
  const offset = await ctx.registry.uploads.offset(name, id);
  sendEmpty(ctx, 204, uploadHeaders(ctx, name, id, offset));
}

/** DELETE <location>: cancels an upload. */
export async function deleteUpload(ctx: Context): Promise<void> {
  const { name, id } = ctx.params as { name: string; id: string };
  ctx.req.resume();
  await ctx.registry.uploads.cancel(name, id);
  sendEmpty(ctx, 204);
}

function sendCreated(ctx: Context, name: string, digest: Digest): void {
  sendEmpty(ctx, 201, { Location: urlFor(ctx, `/v2/${name}/blobs/${digest.value}`), "Docker-Content-Digest": digest.value });
}

function uploadHeaders(ctx: Context, name: string, id: string, offset: number): Record<string, string> {
  return {
    Location: urlFor(ctx, `/v2/${name}/blobs/uploads/${id}`),
    "Docker-Upload-UUID": id,
    Range: `0-${Math.max(offset - 1, 0)}`,
  };
}

/**
 * What the request says of its chunk. Content-Range is `start-end` (inclusive), optionally with a
 * `bytes ` or `bytes=` prefix and a `/total` suffix as some clients send it.
 */
function claimOf(ctx: Context, rangeAllowed: boolean): ChunkClaim {
  const claim: ChunkClaim = {};
  const length = header(ctx.req, "content-length");
  if (length !== undefined && header(ctx.req, "transfer-encoding") === undefined) claim.length = Number(length);
  const range = header(ctx.req, "content-range");
  if (range === undefined || !rangeAllowed) return claim;
  const match = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(\d+|\*))?$/.exec(range.trim());
  const total = match?.[3] === undefined || match[3] === "*" ? Infinity : Number(match[3]);
  // A range ending at or past the total it names lies about one of them.
  if (!match || Number(match[2]) < Number(match[1]) || Number(match[2]) >= total) {
    ctx.req.resume();
    throw new RegistryError("RANGE_INVALID", `malformed Content-Range ${JSON.stringify(range)}: expected <start>-<end>`);
  }
  claim.start = Number(match[1]);
  claim.end = Number(match[2]);
  return claim;
}
