import type { Descriptor } from "../oci/manifest.js";
import { pull } from "./challenge.js";
import { ResponseError } from "./errors.js";
import { readBody } from "./http.js";
import { fetchManifest } from "./manifests.js";
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
