/**
 * The registries an end-to-end test file runs, one after another or side by side on one store:
 * started on a directory, stopped so that the other kind can take the store over (lading must
 * drain and exit 0 on SIGTERM), and all stopped at the end.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { withServerLogs } from "./server-process.js";
import { writeImageIndex, type Descriptor } from "./oci-layout.js";
import { startDockerRegistry, startLading, type RunningRegistry } from "./registries.js";
import type { Scratch } from "./scratch.js";
import { buildImage, type ImageSpec } from "./umoci.js";

export class Fleet {
  /** Those running now. */
  readonly running: RunningRegistry[] = [];
  /** Every lading started, to check at the end that none logged a fault. */
  readonly everyLading: RunningRegistry[] = [];

  constructor(private readonly scratch: () => Scratch) {}

  /** A test whose failure shows the logs of the servers running. */
  readonly test = (name: string, body: () => Promise<void>): void => {
    it(name, withServerLogs(() => this.running.map((r) => r.process), body));
  };

  readonly start = async (kind: "lading" | "docker-registry", storage: string): Promise<RunningRegistry> => {
    const r = kind === "lading" ? await startLading(storage) : await startDockerRegistry(storage, await this.scratch().dir("config"));
    this.running.push(r);
    if (kind === "lading") this.everyLading.push(r);
    return r;
  };

  /** Stops a server before the other one takes over its store; lading must drain and exit 0 on SIGTERM. */
  readonly stop = async (r: RunningRegistry): Promise<void> => {
    await r.stop();
    this.running.splice(this.running.indexOf(r), 1);
    if (r.kind === "lading") assert.equal(r.process.exitedWith, "exit code 0", "lading should shut down cleanly on SIGTERM");
  };

  async stopAll(): Promise<void> {
    for (const r of [...this.running]) await r.stop();
    this.running.length = 0;
  }
}

/**
 * Builds every spec into the OCI layout `src` under its name as tag, and an index tagged
 * `multiarch` of the `amd64` and `arm64` ones; returns the index's children, by digest.
 */
export async function buildLayout(src: string, work: string, specs: Record<string, ImageSpec>): Promise<Map<string, ImageSpec>> {
  const children = new Map<string, ImageSpec>();
  const platforms: Descriptor[] = [];
  for (const [tag, spec] of Object.entries(specs)) {
    const built = await buildImage(src, tag, spec, work);
    if (tag === "amd64" || tag === "arm64") {
      platforms.push(built);
      children.set(built.digest, spec);
    }
  }
  await writeImageIndex(src, "multiarch", platforms);
  return children;
}
