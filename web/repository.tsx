import type { TagSort } from "../src/ui/types.js";
import { useState } from "preact/hooks";
import { api } from "./api.js";
import { Confirm, Digest, Failure, Pager, useLoad } from "./components.js";
import { ago, bytes, mediaTypeName } from "./format.js";
import { href } from "./route.js";

const perPage = 50;
const columns: [TagSort, string][] = [
  ["tag", "Tag"],
  ["size", "Size"],
  ["pushed", "Pushed"],
];

export function Repository({ name, sort: rawSort, order: rawOrder, p }: { name: string; sort: string; order: string; p: number }) {
  const sort: TagSort = rawSort === "pushed" || rawSort === "size" ? rawSort : "tag";
  const order = rawOrder === "asc" || rawOrder === "desc" ? rawOrder : sort === "tag" ? "asc" : "desc";
  const [deleting, setDeleting] = useState<string | undefined>();
  const [deleted, setDeleted] = useState(0);
  const { data, error, loading } = useLoad(`${name}\n${sort}\n${order}\n${p}\n${deleted}`, () => api.tags(name, sort, order, p, perPage));
  const header = (key: TagSort, label: string) => {
    const active = key === sort;
    const next = active ? (order === "asc" ? "desc" : "asc") : key === "tag" ? "asc" : "desc";
    return (
      <th scope="col" class={key === "size" ? "num" : ""} aria-sort={active ? (order === "asc" ? "ascending" : "descending") : "none"}>
        <a href={href.repository(name, key, next)}>
          {label}
          {active ? (order === "asc" ? " ▲" : " ▼") : ""}
        </a>
      </th>
    );
  };
  return (
    <main>
      <nav class="crumbs" aria-label="breadcrumbs">
        <a href={href.repositories()}>Repositories</a> / <span>{name}</span>
      </nav>
      <h1>{name}</h1>
      {error ? <Failure error={error} /> : null}
      {data ? (
        <>
          <p class="count">{data.total === 0 ? "No tags: every manifest here is untagged." : `${data.total} ${data.total === 1 ? "tag" : "tags"}`}</p>
          {data.items.length > 0 ? (
            <div class="table-wrap">
              <table class={loading ? "stale" : ""}>
                <thead>
                  <tr>
                    {header(columns[0]![0], columns[0]![1])}
                    <th scope="col">Digest</th>
                    <th scope="col">Type</th>
                    <th scope="col">Platforms</th>
                    {header(columns[1]![0], columns[1]![1])}
                    {header(columns[2]![0], columns[2]![1])}
                    {data.canDelete ? <th scope="col"><span class="visually-hidden">Actions</span></th> : null}
                  </tr>
                </thead>
                <tbody>
                  {data.items.map((t) => (
                    <tr key={t.tag}>
                      <td>
                        <a href={href.image(name, t.tag)}>{t.tag}</a>
                      </td>
                      <td>
                      <Digest digest={t.digest} />
                    </td>
                      <td>{mediaTypeName(t.mediaType)}</td>
                      <td>{t.platforms.join(", ") || "—"}</td>
                      <td class="num">{bytes(t.size)}</td>
                      <td title={t.pushed ?? ""}>{ago(t.pushed)}</td>
                      {data.canDelete ? (
                        <td>
                          <button type="button" class="danger" onClick={() => setDeleting(t.tag)} aria-label={`delete tag ${t.tag}`}>
                            Delete
                          </button>
                        </td>
                      ) : null}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : null}
          <Pager page={data.page} perPage={data.perPage} total={data.total} href={(n) => href.repository(name, sort, order, n)} />
        </>
      ) : loading && !error ? (
        <p class="loading">Loading…</p>
      ) : null}
      {deleting !== undefined ? (
        <Confirm
          question={`Delete tag ${deleting} from ${name}? The image stays while other tags or digests name it; a garbage collection frees what nothing names.`}
          action={`Delete ${deleting}`}
          onConfirm={() => api.deleteTag(name, deleting).then(() => setDeleted((n) => n + 1))}
          onClose={() => setDeleting(undefined)}
        />
      ) : null}
    </main>
  );
}
