import { Command } from "commander";
import { parseDuration } from "../config/duration.js";
import { compose } from "../config/root.js";
import type { CollectOptions, CollectReport } from "../registry/gc.js";
import { adminSocketPath, collectOptionsOf, collectThroughServer, runCollection } from "../server/admin.js";
import { usageError } from "./exit.js";
import { storeConfig, storeOptions, type StoreFlags } from "./store-options.js";
import { printJson } from "./options.js";
import { humanBytes } from "../image/human-bytes.js";

interface GcFlags extends StoreFlags {
  dryRun?: boolean;
  deleteUntagged?: boolean;
  grace?: string;
  json?: boolean;
  verbose?: boolean;
}

/**
 * `lading gc`: garbage collection of a store, while servers run on it. A filesystem store owned
 * by a running server is collected by that server (through its maintenance socket): only it knows
 * what it has acknowledged and not yet written to the tree. Otherwise the command opens the store.
 */
export function gcCommand(): Command {
  return storeOptions(new Command("gc"))
    .description("delete blobs and manifests nothing references (safe while the registry serves)")
    .option("-n, --dry-run", "report what would be deleted, delete nothing (lading.gc.dryrun)")
    .option("--delete-untagged", "also delete manifests no tag reaches, except referrers of kept ones (lading.gc.deleteuntagged)")
    .option("--grace <duration>", "keep blobs stored less than this long ago, e.g. 30m, 2h (lading.gc.grace; default 1h)")
    .option("--json", "print the report as JSON")
    .option("-v, --verbose", "list every deleted manifest and blob")
    .action(
      async (flags: GcFlags) => {
        const config = await storeConfig(flags);
        const options: CollectOptions = { ...collectOptionsOf(config) };
        if (flags.dryRun) options.dryRun = true;
        if (flags.deleteUntagged) options.deleteUntagged = true;
        if (flags.grace !== undefined) {
          const ms = parseDuration(flags.grace);
          if (ms === undefined) throw usageError(`--grace ${flags.grace} is not a duration (use e.g. 30m, 2h, 1h30m)`);
          options.graceMs = ms;
        }
        const root = config.storage.filesystem?.rootdirectory;
        let report = root === undefined ? undefined : await collectThroughServer(adminSocketPath(root), options);
        if (report === undefined) {
          const composed = await compose(config);
          try {
            report = await runCollection(composed.registry, options, composed.log.child({}, { level: "silent" }), undefined);
          } finally {
            await composed.close();
          }
        }
        if (flags.json) printJson(report);
        else process.stdout.write(describe(report, flags.verbose === true));
      },
    );
}

/** The report for people: what went, what stayed and why. */
export function describe(report: CollectReport, verbose: boolean): string {
  const would = report.dryRun ? "would delete" : "deleted";
  const { blobs, manifests, links, uploads } = report;
  const lines = [
    `${report.dryRun ? "dry run: nothing deleted; " : ""}${report.repositories} ${report.repositories === 1 ? "repository" : "repositories"} in ${(report.durationMs / 1000).toFixed(1)} s`,
    ...(report.tags.deleted > 0 ? [`tags (retention): ${would} ${report.tags.deleted}`] : []),
    `manifests: ${would} ${manifests.deleted}${report.deleteUntagged ? " untagged" : ""}, kept ${manifests.kept}`,
    `blobs: ${would} ${blobs.deleted} (${humanBytes(blobs.bytesFreed)}), kept ${blobs.reachable + blobs.young + blobs.inUse}: ${blobs.reachable} referenced, ${blobs.young} within the grace period, ${blobs.inUse} used during the collection`,
    `repository links: ${would} ${links.deleted}`,
    `uploads: ${would} ${uploads.deleted} stale, kept ${uploads.kept}`,
  ];
  for (const problem of report.problems) lines.push(`problem: ${problem}`);
  if (verbose) {
    for (const tag of report.deletedTags) lines.push(`${would} tag ${tag}`);
    for (const manifest of report.deletedManifests) lines.push(`${would} manifest ${manifest}`);
    for (const blob of report.deletedBlobs) lines.push(`${would} blob ${blob.digest} (${humanBytes(blob.size)})`);
  }
  return `${lines.join("\n")}\n`;
}
