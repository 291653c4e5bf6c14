import { Command } from "commander";
import { parseReference } from "../client/reference.js";
import { parseLocalRef, type LocalFormat } from "../image/local-ref.js";
import { pushImage } from "../image/push.js";
import { poolFrom, printJson, registryOptions, type RegistryFlags, positiveInteger } from "./options.js";
import { blobProgress } from "./progress.js";
import { formatOption } from "./pull.js";
import { count, writtenLine } from "../image/written.js";

export function pushCommand(): Command {
  return registryOptions(
    new Command("push")
      .description("push an image from an OCI layout (digests kept) or a docker save tarball (as Docker schema 2) to a registry")
      .argument("<src>", "oci:DIR[:tag] | docker-archive:FILE[:repo:tag] | a path with --format")
      .argument("<dst>", "registry reference")
      .addOption(formatOption())
      .option("-j, --jobs <n>", "parallel blob uploads", positiveInteger, 4),
  ).action(async (src: string, dst: string, flags: RegistryFlags & { format?: LocalFormat; jobs: number }) => {
    const progress = blobProgress(!flags.json);
    const report = await pushImage(parseLocalRef(src, flags.format), parseReference(dst), { pool: poolFrom(flags), concurrency: flags.jobs, onBlob: progress.onBlob }).finally(progress.stop);
    if (flags.json) printJson(report);
    else process.stdout.write(writtenLine("pushed", report.source, report.destination, report.digest, `${count(report.manifests, "manifest")}, ${count(report.blobs.length, "blob")}, ${report.bytes} bytes uploaded`));
  });
}
