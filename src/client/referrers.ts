import type { Descriptor } from "../oci/manifest.js";
import { pull } from "./challenge.js";
import { ResponseError } from "./errors.js";
import { readBody } from "./http.js";
import { fetchManifest, putManifest } from "./manifests.js";
import { mediaTypes } from "../oci/mediatypes.js";
import type { Transport } from "./transport.js";

/**
 * Manifests whose subject is `digest`: the referrers API when the registry has it, else the
 * tag-schema fallback (`sha256-<hex>` index) that distribution-spec defines for older registries.
 */
export async function listReferrers(t: Transport, repo: string, digest: string, artifactType?: string): Promise<Descriptor[]> {
  const query = artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : "";
  let manifests: unknown;
  try {
    const res = await t.request({ method: "GET", path: `/v2/${repo}/referrers/${digest}${query}`, scopes: [pull(repo)], expect: [200] });
    manifests = (JSON.parse((await readBody(res.body)).toString("utf8")) as { manifests?: unknown }).manifests;
  } catch (err) {
    if (!(err instanceof ResponseError && (err.status === 404 || err.status === 405))) throw err;
    try {
      const fallback = await fetchManifest(t, repo, digest.replace(":", "-"));
      manifests = (JSON.parse(fallback.bytes.toString("utf8")) as { manifests?: unknown }).manifests;
    } catch (inner) {
      if (inner instanceof ResponseError && inner.status === 404) return [];
      throw inner;
    }
  }
  const list = Array.isArray(manifests) ? (manifests as Descriptor[]) : [];
  return artifactType ? list.filter((d) => d.artifactType === artifactType) : list;
}

/** The tag distribution-spec's fallback keeps a subject's referrers under: `sha256-<hex>`. */
export const referrersTag = (subject: string) => subject.replace(":", "-");

/**
 * For registries without the referrers API (they do not answer a manifest PUT with OCI-Subject):
 * adds `referrer` to the subject's fallback index, creating it when absent, as the spec asks of clients.
 */
export async function addReferrerToFallback(t: Transport, repo: string, subject: string, referrer: Descriptor): Promise<void> {
  let manifests: Descriptor[] = [];
  try {
    const current = await fetchManifest(t, repo, referrersTag(subject));
    const list = (JSON.parse(current.bytes.toString("utf8")) as { manifests?: unknown }).manifests;
    if (Array.isArray(list)) manifests = list as Descriptor[];
  } catch (err) {
    if (!(err instanceof ResponseError && err.status === 404)) throw err;
  }
  if (manifests.some((d) => d.digest === referrer.digest)) return;
  const index = { schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: [...manifests, referrer] };
  await putManifest(t, repo, referrersTag(subject), Buffer.from(JSON.stringify(index)), mediaTypes.ociIndex);
}
