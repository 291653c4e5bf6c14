import { MultiBar, Presets, type SingleBar } from "cli-progress";
import type { BlobEvent } from "../image/transfer.js";

/**
 * Progress on a terminal: one bar per blob (bytes as they go, then mounted / skipped / copied /
 * uploaded / written) and an overall bar (bytes and blobs done). Silent when stderr is not a
 * terminal or output is JSON, so scripts and logs get only the result.
 */
export function blobProgress(enabled: boolean): { onBlob: (e: BlobEvent) => void; stop: () => void } {
  if (!enabled || !process.stderr.isTTY) return { onBlob: () => undefined, stop: () => undefined };
  const bars = new MultiBar(
    { stream: process.stderr, clearOnComplete: false, hideCursor: true, barsize: 30, format: " {digest} [{bar}] {value}/{total} bytes {state}" },
    Presets.shades_classic,
  );
  const byDigest = new Map<string, { bar: SingleBar; size: number; bytes: number; done: boolean }>();
  let overall: SingleBar | undefined;
  const totals = { size: 0, bytes: 0, blobs: 0, done: 0 };
  const redraw = () => {
    overall ??= bars.create(1, 0, { done: 0, blobs: 0 }, { format: " overall      [{bar}] {value}/{total} bytes, {done}/{blobs} blobs" });
    overall.setTotal(Math.max(totals.size, 1));
    overall.update(totals.bytes, { done: totals.done, blobs: totals.blobs });
  };
  const entry = (digest: string, size: number) => {
    let e = byDigest.get(digest);
    if (!e) {
      e = { bar: bars.create(Math.max(size, 1), 0, { digest: digest.replace(/^sha256:/, "").slice(0, 12), state: "" }), size, bytes: 0, done: false };
      byDigest.set(digest, e);
      totals.size += size;
      totals.blobs++;
    }
    return e;
  };
  return {
    onBlob: (ev) => {
      const e = entry(ev.digest, ev.size);
      if ("progress" in ev) {
        totals.bytes += Math.max(0, ev.bytes - e.bytes);
        e.bytes = ev.bytes;
        e.bar.update(ev.bytes, { state: "transferring" });
      } else if (!e.done) {
        e.done = true;
        totals.done++;
        // Mounted and skipped blobs count as done in full: nothing had to move.
        totals.bytes += Math.max(0, e.size - e.bytes);
        e.bytes = e.size;
        e.bar.update(Math.max(ev.size, 1), { state: ev.action });
      }
      redraw();
    },
    stop: () => bars.stop(),
  };
}
