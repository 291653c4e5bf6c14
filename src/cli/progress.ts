import { MultiBar, Presets, type SingleBar } from "cli-progress";
import type { LayerStep } from "../image/merge-report.js";

export type BlobEvent = LayerStep | { digest: string; bytes: number; size: number; progress: true };

/** Per-blob bars on a terminal (bytes as they go, then mounted/skipped/copied); silent otherwise. */
export function blobProgress(enabled: boolean): { onBlob: (e: BlobEvent) => void; stop: () => void } {
  if (!enabled || !process.stderr.isTTY) return { onBlob: () => undefined, stop: () => undefined };
  const bars = new MultiBar(
    { stream: process.stderr, clearOnComplete: false, hideCursor: true, format: " {digest} [{bar}] {value}/{total} bytes {state}" },
    Presets.shades_classic,
  );
  const byDigest = new Map<string, SingleBar>();
  const bar = (digest: string, size: number) => {
    let b = byDigest.get(digest);
    if (!b) {
      b = bars.create(Math.max(size, 1), 0, { digest: digest.replace("sha256:", "").slice(0, 12), state: "" });
      byDigest.set(digest, b);
    }
    return b;
  };
  return {
    onBlob: (e) => {
      if ("progress" in e) bar(e.digest, e.size).update(e.bytes, { state: "uploading" });
      else bar(e.digest, e.size).update(Math.max(e.size, 1), { state: e.action });
    },
    stop: () => bars.stop(),
  };
}
