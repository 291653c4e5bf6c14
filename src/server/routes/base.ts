import { sendJson, type Context } from "../context.js";

/** GET /v2/: the API version check, and where clients first meet authentication. */
export async function getBase(ctx: Context): Promise<void> {
  sendJson(ctx, 200, {});
}
