import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import { CollectionRefused, type CollectReport } from "../registry/gc.js";
import type { Registry } from "../registry/index.js";
import { collectOptionsOf, runCollection } from "../server/admin.js";
import type { Metrics } from "../server/metrics.js";
import type { StorageView } from "./types.js";

/**
 * What the store holds and what a garbage collection would free, for the web UI's admins: a dry
 * run of the collection the configuration describes (lading.gc), in this process (so a filesystem
 * store's journal is seen), measuring every blob. It runs when an admin asks, never by itself;
 * the last answer is kept.
 */
export class StorageEstimates {
  private last: { at: string; report: CollectReport } | undefined;
  private running: Promise<void> | undefined;
  private error: string | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly config: Config,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {}

  view(): StorageView {
    const report = this.last?.report;
    const gc = this.config.lading.gc;
    return {
      running: this.running !== undefined,
      error: this.error ?? null,
      estimate:
        report === undefined
          ? null
          : {
              at: this.last!.at,
              durationMs: report.durationMs,
              blobs: report.blobs.stored ?? 0,
              bytesStored: report.blobs.bytesStored ?? 0,
              blobsFreed: report.blobs.deleted,
              bytesFreed: report.blobs.bytesFreed,
              manifestsFreed: report.manifests.deleted,
              tagsRetired: report.tags.deleted,
            },
      schedule: gc.enabled ? { intervalMs: gc.interval } : null,
      graceMs: gc.grace,
      deleteUntagged: gc.deleteuntagged,
    };
  }

  /** Starts an estimate unless one runs. */
  start(): void {
    if (this.running !== undefined) return;
    this.error = undefined;
    this.running = runCollection(this.registry, { ...collectOptionsOf(this.config), dryRun: true, measure: true }, this.log, this.metrics)
      .then(
        (report) => {
          this.last = { at: new Date().toISOString(), report };
        },
        (err: unknown) => {
          this.error = err instanceof CollectionRefused ? `${err.message}: try again when it is over` : `the estimate failed: ${(err as Error).message}`;
        },
      )
      .finally(() => {
        this.running = undefined;
      });
  }

  /** Resolves when the estimate running, if any, is over (tests, shutdown). */
  async settled(): Promise<void> {
    await this.running;
  }
}
