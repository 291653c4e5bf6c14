import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Writes files of registry:2's layout under `storage` (docker/registry/v2), for stores placed before a server starts. */
export function layoutWriter(storage: string): {
  v2: string;
  blob(content: Buffer | string): { digest: string; size: number };
  link(path: string, digest: string): void;
} {
  const v2 = join(storage, "docker/registry/v2");
  return {
    v2,
    blob(content) {
      const hex = createHash("sha256").update(content).digest("hex");
      const dir = join(v2, "blobs/sha256", hex.slice(0, 2), hex);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "data"), content);
      return { digest: `sha256:${hex}`, size: Buffer.byteLength(content) };
    },
    link(path, digest) {
      mkdirSync(path, { recursive: true });
      writeFileSync(join(path, "link"), digest);
    },
  };
}
