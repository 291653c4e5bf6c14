import { Command } from "commander";
import { parseReference } from "../client/reference.js";
import { merge } from "../image/merge.js";
import { readMergeFile, type MergeFile } from "../image/merge-file.js";
import { conflictCount, formatMergeReport } from "../image/merge-report.js";
import { parsePlatform } from "../image/platform.js";
import { exitCodes, usageError } from "./exit.js";
import { collectValues, poolFrom, printJson, registryOptions, type RegistryFlags, timestampOption, platformArgument } from "./options.js";
import { blobProgress } from "./progress.js";

interface MergeFlags extends RegistryFlags {
  tag?: string;
  file?: string;
  dryRun?: boolean;
  timestamp?: string;
  checkConflicts: boolean;
  strict?: boolean;
  platform?: string[];
}

export function mergeCommand(): Command {
  return registryOptions(
    new Command("merge")
      .description("stack sections' own layers onto BASE as TARGET, inside the registry (cross-repository mounts, no layer bytes moved)")
      .argument("[base]", "the image every section was built on")
      .argument("[sections...]", "images built FROM base, merged in this order (later wins)")
      .option("-t, --tag <target>", "the image to create")
      .option("-f, --file <merge.yaml>", "read base, sections, target and config overrides from a file")
      .option("--dry-run", "print the plan; write nothing")
      .addOption(timestampOption("the merged config's created time (same inputs, same digest)"))
      .option("--no-check-conflicts", "skip reading section layers for conflicting paths")
      .option("--strict", "any conflict stops the merge before anything is written (exit code 3)")
      .option("--platform <os/arch[/variant]>", "merge only this platform of a multi-platform base (repeatable)", (value: string, previous: string[] | undefined) => collectValues(platformArgument(value), previous)),
  ).action(async (baseArg: string | undefined, sectionArgs: string[], flags: MergeFlags) => {
    const file: Partial<MergeFile> = flags.file ? await readMergeFile(flags.file) : {};
    const base = baseArg ?? file.base;
    const sections = sectionArgs.length > 0 ? sectionArgs : (file.sections ?? []);
    const target = flags.tag ?? file.target;
    if (!base || sections.length === 0 || !target) throw usageError("usage: lading merge BASE SECTION... --tag TARGET (or -f merge.yaml)");
    const strict = flags.strict ?? file.strict ?? false;
    const timestamp = flags.timestamp ?? file.timestamp;
    const platforms = flags.platform ?? file.platforms;
    const progress = blobProgress(!flags.json);
    const report = await merge({
      base: parseReference(base),
      sections: sections.map(parseReference),
      target: parseReference(target),
      pool: poolFrom(flags),
      dryRun: flags.dryRun === true,
      checkConflicts: flags.checkConflicts && file.checkConflicts !== false,
      strict,
      onBlob: progress.onBlob,
      ...(timestamp === undefined ? {} : { timestamp }),
      ...(file.config ? { overrides: file.config } : {}),
      ...(platforms ? { platforms: platforms.map(parsePlatform) } : {}),
    }).finally(progress.stop);
    if (flags.json) printJson(report);
    else process.stdout.write(`${formatMergeReport(report)}\n`);
    const conflicts = conflictCount(report);
    if (strict && conflicts > 0) {
      process.stderr.write(`lading: ${conflicts} conflict(s) found and --strict is set: nothing was written\n`);
      process.exitCode = exitCodes.conflicts;
    }
  });
}
