import { useEffect, useState } from "preact/hooks";
import { api } from "./api.js";
import { Failure, Pager, useLoad } from "./components.js";
import { ago, bytes } from "./format.js";
import { href } from "./route.js";

const perPage = 50;

export function Repositories({ q, p }: { q: string; p: number }) {
  const [typed, setTyped] = useState(q);
  useEffect(() => setTyped(q), [q]);
  // The search goes to the URL (so it can be shared and the back button works) once typing pauses.
  useEffect(() => {
    if (typed === q) return;
    const timer = setTimeout(() => location.replace(href.repositories(typed)), 200);
    return () => clearTimeout(timer);
  }, [typed]);
  const { data, error, loading } = useLoad(`${q}\n${p}`, () => api.repositories(q, p, perPage));
  return (
    <main>
      <h1>Repositories</h1>
      <form class="search" role="search" onSubmit={(e) => (e.preventDefault(), location.replace(href.repositories(typed)))}>
        <label for="search">Search</label>
        <input id="search" type="search" value={typed} placeholder="name contains…" autoComplete="off" onInput={(e) => setTyped((e.target as HTMLInputElement).value)} />
      </form>
      {error ? <Failure error={error} /> : null}
      {data ? (
        <>
          <p class="count" aria-live="polite">
            {data.total === 0 ? (q === "" ? "No repositories yet: push an image to see it here." : `No repository's name contains “${q}”.`) : `${data.total} ${data.total === 1 ? "repository" : "repositories"}`}
          </p>
          {data.items.length > 0 ? (
            <div class="table-wrap">
              <table class={loading ? "stale" : ""}>
                <thead>
                  <tr>
                    <th scope="col">Repository</th>
                    <th scope="col" class="num">
                      Tags
                    </th>
                    <th scope="col" class="num">
                      Size
                    </th>
                    <th scope="col">Last push</th>
                  </tr>
                </thead>
                <tbody>
                  {data.items.map((r) => (
                    <tr key={r.name}>
                      <td>
                        <a href={href.repository(r.name)}>{r.name}</a>
                      </td>
                      <td class="num">{r.tags}</td>
                      <td class="num">{bytes(r.size)}</td>
                      <td title={r.lastPush ?? ""}>{ago(r.lastPush)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : null}
          <Pager page={data.page} perPage={data.perPage} total={data.total} href={(n) => href.repositories(q, n)} />
        </>
      ) : loading && !error ? (
        <p class="loading">Loading…</p>
      ) : null}
    </main>
  );
}
