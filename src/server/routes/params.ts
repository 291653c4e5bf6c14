import { isAlgorithm, looksLikeDigest, parseDigest, type Algorithm, type Digest } from "../../oci/digest.js";
import { RegistryError } from "../../oci/errors.js";
import { isValidTag } from "../../oci/reference.js";
import type { ManifestReference } from "../../registry/manifests.js";
import type { Context } from "../context.js";

/** A digest from a path or query, DIGEST_INVALID (400) when malformed or of an unknown algorithm. */
export function digestParam(value: string | null | undefined, what = "digest"): Digest {
  const digest = value ? parseDigest(value) : undefined;
  if (!digest) {
    const known = value ? isAlgorithm(value.slice(0, value.indexOf(":"))) : false;
    const reason = value && looksLikeDigest(value) && !known ? "uses an unsupported algorithm (sha256 and sha512 are supported)" : "is not a valid digest";
    throw new RegistryError("DIGEST_INVALID", `${what} ${JSON.stringify(value ?? "")} ${reason}`, { detail: { digest: value ?? "" } });
  }
  return digest;
}

export function algorithmParam(value: string | null): Algorithm {
  if (value === null || value === "") return "sha256";
  if (!isAlgorithm(value)) throw new RegistryError("DIGEST_INVALID", `digest algorithm ${JSON.stringify(value)} is not supported (sha256 and sha512 are)`);
  return value;
}

/**
 * The `<reference>` of a manifest URL: a digest when it has a colon, a tag otherwise. A reference
 * that is neither names nothing: 404 when reading or deleting, 400 when pushing.
 */
export function manifestReference(ctx: Context): ManifestReference {
  const reference = ctx.params.reference!;
  if (reference.includes(":")) return { digest: digestParam(reference) };
  if (!isValidTag(reference)) {
    const message = `${JSON.stringify(reference)} is neither a valid tag nor a digest`;
    if (ctx.req.method === "PUT") throw new RegistryError("MANIFEST_INVALID", message, { detail: { tag: reference } });
    throw new RegistryError("MANIFEST_UNKNOWN", message, { detail: { tag: reference } });
  }
  return { tag: reference };
}
