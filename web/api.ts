import type { ImageAnswer, Page, RepositoryRow, SessionView, StorageView, TagPage, TagSort } from "../src/ui/types.js";

/** An error the registry answered, in its words. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** The CSRF token of the current session: every change carries it. */
let csrf = "";

async function call(method: string, path: string, params: Record<string, string | number> = {}, body?: unknown): Promise<Response> {
  const query = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)])).toString();
  const headers: Record<string, string> = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(`/api/v1/${path}${query === "" ? "" : `?${query}`}`, { method, headers, credentials: "same-origin", ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  if (!res.ok) {
    const answer = (await res.json().catch(() => undefined)) as { errors?: { message?: string }[] } | undefined;
    throw new ApiError(answer?.errors?.[0]?.message ?? `the registry answered ${res.status}`, res.status);
  }
  return res;
}

const get = async <T>(path: string, params: Record<string, string | number> = {}): Promise<T> => (await call("GET", path, params)).json() as Promise<T>;

async function session(res: Promise<Response>): Promise<SessionView> {
  const view = (await (await res).json()) as SessionView;
  csrf = view.csrf;
  return view;
}

const repoPath = (name: string) => name.split("/").map(encodeURIComponent).join("/");

export const api = {
  session: () => session(call("GET", "session")),
  signIn: (username: string, password: string) => session(call("POST", "session", {}, { username, password })),
  signOut: async () => {
    await call("DELETE", "session");
  },
  deleteTag: async (name: string, tag: string) => {
    await call("DELETE", `repositories/${repoPath(name)}/tags/${encodeURIComponent(tag)}`);
  },
  deleteManifest: async (name: string, digest: string) => {
    await call("DELETE", `repositories/${repoPath(name)}/manifests/${encodeURIComponent(digest)}`);
  },
  storage: () => get<StorageView>("storage"),
  estimateStorage: async () => (await call("POST", "storage/estimate")).json() as Promise<StorageView>,
  repositories: (q: string, page: number, perPage: number) => get<Page<RepositoryRow>>("repositories", { q, page, per_page: perPage }),
  tags: (name: string, sort: TagSort, order: "asc" | "desc", page: number, perPage: number) =>
    get<TagPage>(`repositories/${repoPath(name)}/tags`, { sort, order, page, per_page: perPage }),
  image: (name: string, reference: string) => get<ImageAnswer>(`repositories/${repoPath(name)}/manifests/${encodeURIComponent(reference)}`),
};
