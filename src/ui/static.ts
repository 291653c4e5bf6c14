import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../config/load.js";
import { RegistryError } from "../oci/errors.js";
import type { Context } from "../server/context.js";

/** Where `npm run build` puts the bundled pages (web/, built by scripts/build-web.mjs). */
const builtDir = fileURLToPath(new URL("../../web/", import.meta.url));

const types: Record<string, string> = { ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".map": "application/json" };

/** No script, style or connection but the registry's own; no framing, no referrer. */
const pageHeaders = {
  "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
};

interface Asset {
  body: Buffer;
  type: string;
}

/**
 * The web UI's pages: index.html at `path` itself (the pages route by the URL's fragment), the
 * bundle under `path`assets/ (names carry a content hash, so they are cached for good). Read once,
 * at start: a registry whose UI is on but not built stops with a message saying so.
 */
export function uiPages(path: string): (ctx: Context, pathname: string) => Promise<void> {
  let index: Buffer;
  const assets = new Map<string, Asset>();
  try {
    index = readFileSync(`${builtDir}index.html`);
    for (const name of readdirSync(`${builtDir}assets`)) {
      const type = types[name.slice(name.lastIndexOf("."))];
      if (type !== undefined) assets.set(name, { body: readFileSync(`${builtDir}assets/${name}`), type });
    }
  } catch {
    throw new ConfigError(`lading.ui.enabled: the web UI is not built (${builtDir} is missing): run npm run build, or set lading.ui.enabled to false`);
  }
  return async (ctx, pathname) => {
    const method = ctx.req.method;
    if (method !== "GET" && method !== "HEAD") throw new RegistryError("UNSUPPORTED", `no such endpoint: ${method} ${pathname}`);
    ctx.route = "ui";
    const rest = pathname.slice(path.length);
    if (rest === "" || rest === "index.html") return send(ctx, 200, index, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache", ...pageHeaders });
    const asset = rest.startsWith("assets/") ? assets.get(rest.slice(7)) : undefined;
    if (asset === undefined) throw new RegistryError("UNSUPPORTED", `no such endpoint: ${method} ${pathname}`, { status: 404 });
    send(ctx, 200, asset.body, { "Content-Type": asset.type, "Cache-Control": "public, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff" });
  };
}

function send(ctx: Context, status: number, body: Buffer, headers: Record<string, string>): void {
  ctx.res.writeHead(status, { ...headers, "Content-Length": body.length });
  ctx.res.end(ctx.req.method === "HEAD" ? undefined : body);
}
