import { SingleBar, Presets } from "cli-progress";
import { stat } from "node:fs/promises";
import { Command } from "commander";
import { destination, pino } from "pino";
import { compose } from "../config/root.js";
import { humanBytes } from "../image/human-bytes.js";
import { checkStore, type FsckOptions, type FsckProgress, type FsckReport } from "../registry/fsck.js";
import { adminSocketPath, checkOptionsOf, checkThroughServer, serverListens } from "../server/admin.js";
import { FilesystemDriver } from "../storage/fs/filesystem.js";
import { exitCodes } from "./exit.js";
import { storeConfig, storeOptions, type StoreFlags } from "./store-options.js";
import { printJson } from "./options.js";

interface FsckFlags extends StoreFlags {
  repair?: boolean;
  hash: boolean;
  json?: boolean;
}

/**
 * `lading fsck`: checks a store, registry:2's included, and with `--repair` removes what is broken.
 * A filesystem store that a running server owns is checked by that server (through its
 * maintenance socket: only it sees what it has acknowledged and not yet written to the tree), and
 * is not repaired while it runs. A shared store (S3) is checked and repaired beside its replicas:
 * a repair looks at each problem twice and removes only what is broken.
 */
export function fsckCommand(): Command {
  return storeOptions(new Command("fsck"))
    .description("check a store: blobs hash to their names, links, manifests, tags and uploads are whole (--repair removes what is broken)")
    .option("--repair", "remove what is broken: corrupt blobs, dangling links and tags, revisions without bytes, malformed and abandoned uploads")
    .option("--no-hash", "do not hash blobs, only check that their bytes are there (faster)")
    .option("--json", "print the report as JSON")
    .action(
      async (flags: FsckFlags) => {
        const config = await storeConfig(flags);
        const options: FsckOptions = { ...checkOptionsOf(config), repair: flags.repair === true, hash: flags.hash };
        const root = config.storage.filesystem?.rootdirectory;
        let report: FsckReport | undefined;
        if (root !== undefined) {
          if (!(await stat(root).then((s) => s.isDirectory(), () => false))) throw new Error(`no store at ${root}: it is not a directory`);
          const socket = adminSocketPath(root);
          if (options.repair && (await serverListens(socket))) {
            throw new Error(`a running server owns ${root}: stop it before lading fsck --repair (without --repair the check runs inside the server)`);
          }
          if (!options.repair) report = await checkThroughServer(socket, { hash: options.hash });
        }
        if (report === undefined) {
          const composed = await compose(config, { logger: pino({ level: "warn" }, destination(2)) });
          const notes: string[] = [];
          const driver = composed.driver;
          if (driver instanceof FilesystemDriver && driver.replayed > 0) {
            notes.push(`the journal held ${driver.replayed} acknowledged ${driver.replayed === 1 ? "write" : "writes"} the tree lacked (the last server stopped without closing the store): replayed`);
          }
          const progress = progressBar(flags.json !== true);
          try {
            report = await checkStore(driver, { ...options, live: driver.capabilities.exclusive !== true, onProgress: progress.update }, notes);
          } finally {
            progress.stop();
            await composed.close();
          }
        }
        if (flags.json) printJson(report);
        else process.stdout.write(describe(report));
        if (!report.sound) process.exitCode = exitCodes.invalid;
      },
    );
}

/** One bar on a terminal: blob prefixes, then repositories. */
function progressBar(enabled: boolean): { update: (p: FsckProgress) => void; stop: () => void } {
  if (!enabled || !process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const bar = new SingleBar({ stream: process.stderr, hideCursor: true, barsize: 30, format: " {phase} [{bar}] {value}/{total}" }, Presets.shades_classic);
  let phase: string | undefined;
  return {
    update: (p) => {
      if (phase !== p.phase) {
        if (phase !== undefined) bar.stop();
        phase = p.phase;
        bar.start(p.total, 0, { phase: p.phase === "blobs" ? "blob prefixes" : "repositories " });
      }
      bar.update(p.done);
    },
    stop: () => {
      if (phase !== undefined) bar.stop();
    },
  };
}

/** The report for people: what was checked, each problem with what a repair did or what to do. */
export function describe(report: FsckReport): string {
  const { blobs } = report;
  const lines = [
    `checked ${blobs.checked} ${blobs.checked === 1 ? "blob" : "blobs"} (${humanBytes(blobs.bytes)}${blobs.hashed ? " hashed" : ", not hashed"}), ${report.repositories} ${report.repositories === 1 ? "repository" : "repositories"}, ${report.manifests} manifests, ${report.tags} tags, ${report.links} links, ${report.uploads.inProgress} uploads in progress in ${(report.durationMs / 1000).toFixed(1)} s`,
  ];
  for (const note of report.notes) lines.push(`note: ${note}`);
  for (const p of report.problems) {
    const action = p.repaired === true ? ` (repaired: ${p.repair})` : p.repair !== undefined ? ` (--repair would ${p.repair})` : p.hint !== undefined ? ` (${p.hint})` : "";
    lines.push(`${p.kind}: ${p.message}${action}`);
  }
  if (report.problemCount > report.problems.length) lines.push(`… and ${report.problemCount - report.problems.length} more problems (listed with --json up to the same limit)`);
  if (report.problemCount === 0) lines.push("the store is sound");
  else if (report.sound) lines.push(`the store is sound: ${report.repairedCount} ${report.repairedCount === 1 ? "problem" : "problems"} repaired`);
  else {
    const left = report.problemCount - report.repairedCount;
    lines.push(`${left} ${left === 1 ? "problem" : "problems"}${report.repairedCount > 0 ? ` left, ${report.repairedCount} repaired` : ""}${report.repair ? "" : report.problems.some((p) => p.repair !== undefined) ? "; run lading fsck --repair to remove what is broken" : ""}`);
  }
  return `${lines.join("\n")}\n`;
}
