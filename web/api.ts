import type { ImageView, Page, RepositoryRow, TagRow, TagSort } from "../src/ui/types.js";

/** An error the registry answered, in its words. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

async function get<T>(path: string, params: Record<string, string | number> = {}): Promise<T> {
  const query = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)])).toString();
  const res = await fetch(`/api/v1/${path}${query === "" ? "" : `?${query}`}`, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  if (!res.ok) {
    const body = (await res.json().catch(() => undefined)) as { errors?: { message?: string }[] } | undefined;
    throw new ApiError(body?.errors?.[0]?.message ?? `the registry answered ${res.status}`, res.status);
  }
  return (await res.json()) as T;
}

const repoPath = (name: string) => name.split("/").map(encodeURIComponent).join("/");

export const api = {
  repositories: (q: string, page: number, perPage: number) => get<Page<RepositoryRow>>("repositories", { q, page, per_page: perPage }),
  tags: (name: string, sort: TagSort, order: "asc" | "desc", page: number, perPage: number) =>
    get<Page<TagRow>>(`repositories/${repoPath(name)}/tags`, { sort, order, page, per_page: perPage }),
  image: (name: string, reference: string) => get<ImageView>(`repositories/${repoPath(name)}/manifests/${encodeURIComponent(reference)}`),
};
