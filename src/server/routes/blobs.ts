import { RegistryError } from "../../oci/errors.js";
import { smallBlobSize } from "../../registry/blobs.js";
import { header, sendEmpty, type Context } from "../context.js";
import { digestParam } from "./params.js";

/** GET and HEAD /v2/<name>/blobs/<digest>, with single-range requests. */
export async function getBlob(ctx: Context): Promise<void> {
  const digest = digestParam(ctx.params.digest);
  const name = ctx.params.name!;
  let size = await ctx.registry.blobs.sizeIn(name, digest);
  const mirror = ctx.registry.mirror;
  const mapped = size === undefined ? mirror?.mapped(name) : undefined;
  if (mirror !== undefined && mapped !== undefined) {
    // Not cached yet: a HEAD is answered from the upstream's; a whole GET streams as it is cached; a range waits for the cache.
    if (ctx.req.method === "HEAD") {
      const upstreamSize = await mirror.blobSize(mapped, digest);
      ctx.res.writeHead(200, { "Content-Type": "application/octet-stream", "Docker-Content-Digest": digest.value, "Content-Length": upstreamSize, "Accept-Ranges": "bytes" });
      ctx.res.end();
      return;
    }
    const whole = header(ctx.req, "range") === undefined;
    if (!(await mirror.blob(name, mapped, digest, whole ? ctx.res : undefined))) return;
    size = await ctx.registry.blobs.sizeIn(name, digest);
  }
  if (size === undefined) throw new RegistryError("BLOB_UNKNOWN", undefined, { detail: { digest: digest.value } });
  const etag = `"${digest.value}"`;
  const headers: Record<string, string | number> = {
    "Content-Type": "application/octet-stream",
    "Docker-Content-Digest": digest.value,
    ETag: etag,
    "Accept-Ranges": "bytes",
    "Cache-Control": "max-age=31536000",
  };
  if (header(ctx.req, "if-none-match") === etag) {
    ctx.res.writeHead(304, headers);
    ctx.res.end();
    return;
  }
  const range = parseRange(header(ctx.req, "range"), size);
  if (range === "unsatisfiable") {
    throw new RegistryError("RANGE_INVALID", `range ${header(ctx.req, "range")} is not satisfiable for a blob of ${size} bytes`, {
      headers: { "Content-Range": `bytes */${size}` },
    });
  }
  if (range) {
    headers["Content-Range"] = `bytes ${range.start}-${range.end}/${size}`;
    headers["Content-Length"] = range.end - range.start + 1;
  } else {
    headers["Content-Length"] = size;
  }
  if (ctx.req.method === "HEAD" || size === 0) {
    ctx.res.writeHead(range ? 206 : 200, headers);
    ctx.res.end();
    return;
  }
  if (size <= smallBlobSize) {
    const content = await ctx.registry.blobs.read(digest);
    if (!content) throw new RegistryError("BLOB_UNKNOWN", undefined, { detail: { digest: digest.value } });
    ctx.res.writeHead(range ? 206 : 200, headers);
    ctx.res.end(range ? content.subarray(range.start, range.end + 1) : content);
    return;
  }
  const url = ctx.registry.options.redirect ? await ctx.registry.blobs.redirect(digest) : undefined;
  if (url !== undefined) {
    // The client fetches the bytes (and any range of them) from the store itself.
    sendEmpty(ctx, 307, { Location: url, "Docker-Content-Digest": digest.value });
    return;
  }
  const source = await ctx.registry.blobs.source(digest, range ?? undefined);
  try {
    ctx.res.writeHead(range ? 206 : 200, headers);
  } catch (err) {
    await source.close();
    throw err;
  }
  await source.pipe(ctx.res);
  ctx.res.end();
}

/** DELETE /v2/<name>/blobs/<digest>: unlinks the blob from the repository. */
export async function deleteBlob(ctx: Context): Promise<void> {
  const digest = digestParam(ctx.params.digest);
  await ctx.registry.blobs.unlink(ctx.params.name!, digest);
  sendEmpty(ctx, 202, { "Docker-Content-Digest": digest.value });
}

/**
 * One byte range (RFC 9110 14.1.2): `a-b`, `a-` or `-suffix`. Multiple ranges and malformed
 * headers are ignored (the whole blob is served), as the RFC allows.
 */
export function parseRange(value: string | undefined, size: number): { start: number; end: number } | "unsatisfiable" | undefined {
  if (value === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!match || (match[1] === "" && match[2] === "")) return undefined;
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (match[2] !== "" && Number(match[2]) < start) return "unsatisfiable";
  if (start >= size) return "unsatisfiable";
  return { start, end };
}
