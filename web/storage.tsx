import { useEffect, useState } from "preact/hooks";
import type { StorageView } from "../src/ui/types.js";
import { api } from "./api.js";
import { Failure } from "./components.js";
import { ago, bytes } from "./format.js";

const duration = (ms: number) => (ms < 1000 ? `${ms} ms` : ms % 3_600_000 === 0 ? `${ms / 3_600_000} h` : ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`);

/** What the store holds and what a garbage collection would free (admins only). */
export function Storage() {
  const [view, setView] = useState<StorageView | undefined>();
  const [error, setError] = useState<Error | undefined>();
  const load = () => api.storage().then(setView, setError);
  useEffect(() => void load(), []);
  // While an estimate runs, ask again every second.
  useEffect(() => {
    if (!view?.running) return;
    const timer = setTimeout(() => void load(), 1000);
    return () => clearTimeout(timer);
  }, [view]);
  const estimate = () => api.estimateStorage().then(setView, setError);
  const e = view?.estimate;
  return (
    <main>
      <h1>Storage</h1>
      {error ? <Failure error={error} /> : null}
      {view ? (
        <>
          {e ? (
            <dl class="facts">
              <dt>Stored</dt>
              <dd>
                {bytes(e.bytesStored)} in {e.blobs} blobs
              </dd>
              <dt>A collection would free</dt>
              <dd>
                {bytes(e.bytesFreed)}: {e.blobsFreed} blobs, {e.manifestsFreed} manifests{e.tagsRetired > 0 ? `, ${e.tagsRetired} tags retired by retention` : ""}
              </dd>
              <dt>Estimated</dt>
              <dd title={e.at}>
                {ago(e.at)}, in {duration(e.durationMs)}
              </dd>
            </dl>
          ) : (
            <p class="count">No estimate yet: it walks the whole store, so it runs only when asked.</p>
          )}
          {view.error ? <p class="failure" role="alert">{view.error}</p> : null}
          <p>
            <button type="button" onClick={() => void estimate()} disabled={view.running}>
              {view.running ? "Estimating…" : "Estimate now"}
            </button>
          </p>
          <p class="count">
            {view.schedule ? `Collections run every ${duration(view.schedule.intervalMs)}` : "Collections run when an operator starts one (lading gc)"}; blobs younger than {duration(view.graceMs)} are kept
            {view.deleteUntagged ? ", untagged manifests are removed" : ""}.
          </p>
        </>
      ) : !error ? (
        <p class="loading">Loading…</p>
      ) : null}
    </main>
  );
}
