import { RegistryError } from "../oci/errors.js";
import { isValidName } from "../oci/reference.js";
import type { AccessRequest } from "./auth/access.js";
import type { Handler } from "./context.js";
import { getBase } from "./routes/base.js";
import { deleteBlob, getBlob } from "./routes/blobs.js";
import { listCatalog } from "./routes/catalog.js";
import { deleteManifest, getManifest, putManifest } from "./routes/manifests.js";
import { listReferrers } from "./routes/referrers.js";
import { listTags } from "./routes/tags.js";
import { deleteUpload, getUpload, patchUpload, putUpload, startUpload } from "./routes/uploads.js";

type Method = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";

interface Route {
  name: string;
  pattern: RegExp;
  /** Names of the pattern's capture groups, in order; `name` is a repository name. */
  keys: string[];
  methods: Partial<Record<Method, Handler>>;
}

const pull = ["pull"] as const;
const push = ["pull", "push"] as const;

// Order matters: a repository name may itself contain "blobs" or "uploads" as a component.
const routes: Route[] = [
  { name: "base", pattern: /^\/v2\/?$/, keys: [], methods: { GET: getBase, HEAD: getBase } },
  { name: "catalog", pattern: /^\/v2\/_catalog$/, keys: [], methods: { GET: listCatalog } },
  {
    name: "upload",
    pattern: /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/,
    keys: ["name", "id"],
    methods: { GET: getUpload, PATCH: patchUpload, PUT: putUpload, DELETE: deleteUpload },
  },
  { name: "uploads", pattern: /^\/v2\/(.+)\/blobs\/uploads\/?$/, keys: ["name"], methods: { POST: startUpload } },
  { name: "blob", pattern: /^\/v2\/(.+)\/blobs\/([^/]+)$/, keys: ["name", "digest"], methods: { GET: getBlob, HEAD: getBlob, DELETE: deleteBlob } },
  {
    name: "manifest",
    pattern: /^\/v2\/(.+)\/manifests\/([^/]+)$/,
    keys: ["name", "reference"],
    methods: { GET: getManifest, HEAD: getManifest, PUT: putManifest, DELETE: deleteManifest },
  },
  { name: "tags", pattern: /^\/v2\/(.+)\/tags\/list$/, keys: ["name"], methods: { GET: listTags } },
  { name: "referrers", pattern: /^\/v2\/(.+)\/referrers\/([^/]+)$/, keys: ["name", "digest"], methods: { GET: listReferrers } },
];

export interface Match {
  route: string;
  handler: Handler;
  params: Record<string, string>;
  access: AccessRequest[];
}

/** Finds the handler for a request; throws the registry error a client should see when there is none. */
export function match(method: string, pathname: string): Match | undefined {
  for (const route of routes) {
    const found = route.pattern.exec(pathname);
    if (!found) continue;
    const params: Record<string, string> = {};
    route.keys.forEach((key, i) => {
      params[key] = decode(found[i + 1]!);
    });
    const handler = route.methods[method as Method];
    if (!handler) {
      throw new RegistryError("UNSUPPORTED", `${method} is not supported on ${pathname}`, {
        status: 405,
        headers: { Allow: Object.keys(route.methods).join(", ") },
      });
    }
    const name = params.name;
    if (name !== undefined && !isValidName(name)) {
      throw new RegistryError("NAME_INVALID", `invalid repository name ${JSON.stringify(name)}`, { detail: { name } });
    }
    return { route: route.name, handler, params, access: accessFor(route.name, method, name) };
  }
  return undefined;
}

function accessFor(route: string, method: string, name: string | undefined): AccessRequest[] {
  if (route === "base") return [];
  if (route === "catalog") return [{ type: "registry", name: "catalog", actions: ["*"] }];
  const actions = method === "DELETE" && route !== "upload" ? ["delete" as const] : method === "GET" || method === "HEAD" ? [...pull] : [...push];
  return [{ type: "repository", name: name!, actions }];
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
