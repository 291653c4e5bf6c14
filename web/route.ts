/** Pages are addressed by the URL's fragment, so the registry serves one HTML page whatever the view. */
export type Route =
  | { page: "repositories"; q: string; p: number }
  | { page: "repository"; name: string; sort: string; order: string; p: number }
  | { page: "image"; name: string; reference: string }
  | { page: "sign-in" }
  | { page: "storage" };

export function parseRoute(hash: string): Route {
  const [path = "", search = ""] = hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(search);
  const p = Math.max(1, Number(params.get("page") ?? "1") || 1);
  const parts = path.split("/").filter((x) => x !== "").map(decodeURIComponent);
  if (parts[0] === "sign-in") return { page: "sign-in" };
  if (parts[0] === "storage") return { page: "storage" };
  if (parts[0] === "r" && parts.length > 1) {
    const at = parts.indexOf("-", 1);
    if (at > 1 && parts[at + 1] !== undefined) return { page: "image", name: parts.slice(1, at).join("/"), reference: parts[at + 1]! };
    return { page: "repository", name: parts.slice(1).join("/"), sort: params.get("sort") ?? "tag", order: params.get("order") ?? "", p };
  }
  return { page: "repositories", q: params.get("q") ?? "", p };
}

const enc = (name: string) => name.split("/").map(encodeURIComponent).join("/");

export const href = {
  signIn: () => "#/sign-in",
  storage: () => "#/storage",
  repositories: (q = "", p = 1) => `#/${query({ q, page: p > 1 ? String(p) : "" })}`,
  repository: (name: string, sort = "tag", order = "", p = 1) => `#/r/${enc(name)}${query({ sort: sort === "tag" ? "" : sort, order, page: p > 1 ? String(p) : "" })}`,
  image: (name: string, reference: string) => `#/r/${enc(name)}/-/${encodeURIComponent(reference)}`,
};

function query(params: Record<string, string>): string {
  const s = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "")).toString();
  return s === "" ? "" : `?${s}`;
}
