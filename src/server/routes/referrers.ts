import { mediaTypes } from "../../oci/mediatypes.js";
import { sendJson, type Context } from "../context.js";
import { digestParam } from "./params.js";

/** GET /v2/<name>/referrers/<digest>[?artifactType=]: an image index, never a 404. */
export async function listReferrers(ctx: Context): Promise<void> {
  const subject = digestParam(ctx.params.digest);
  const artifactType = ctx.query.get("artifactType") || undefined;
  const manifests = await ctx.registry.manifests.referrers(ctx.params.name!, subject, artifactType);
  const headers: Record<string, string> = { "Content-Type": mediaTypes.ociIndex };
  if (artifactType !== undefined) headers["OCI-Filters-Applied"] = "artifactType";
  sendJson(ctx, 200, { schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests }, headers);
}
