import { Command } from "commander";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createHash } from "node:crypto";
import { parseReference } from "../client/reference.js";
import { exportFilesystem } from "../image/flatten.js";
import type { FlattenStats } from "../image/flatten-fs.js";
import { parsePlatform } from "../image/platform.js";
import { usageError } from "./exit.js";
import { platformOption, poolFrom, printJson, registryOptions, type RegistryFlags } from "./options.js";

export function exportCommand(): Command {
  return registryOptions(
    new Command("export")
      .description("write an image's filesystem as one tar (layers stacked, whiteouts applied) to a file or stdout")
      .argument("<ref>")
      .option("-o, --output <file>", "write here instead of stdout")
      .addOption(platformOption()),
  ).action(async (text: string, flags: RegistryFlags & { output?: string; platform?: string }) => {
    if (!flags.output && process.stdout.isTTY) throw usageError("refusing to write a tar to a terminal: use -o FILE or a pipe");
    if (!flags.output && flags.json) throw usageError("--json needs -o FILE (stdout carries the tar)");
    let stats: FlattenStats | undefined;
    const tar = await exportFilesystem(poolFrom(flags), parseReference(text), flags.platform ? parsePlatform(flags.platform) : undefined, (s) => (stats = s));
    if (!flags.output) return pipeline(tar, process.stdout);
    const hash = createHash("sha256");
    let size = 0;
    const count = new Transform({ transform: (c: Buffer, _e, done) => (hash.update(c), (size += c.length), done(null, c)) });
    const tmp = `${flags.output}.${process.pid}.partial`;
    try {
      await pipeline(tar, count, createWriteStream(tmp));
      await rename(tmp, flags.output);
    } finally {
      await rm(tmp, { force: true });
    }
    const result = { output: flags.output, size, digest: `sha256:${hash.digest("hex")}`, ...stats };
    if (flags.json) printJson(result);
    else process.stdout.write(`wrote ${flags.output}: ${size} bytes, ${stats?.entries ?? 0} entries from ${stats?.layers ?? 0} layer(s), ${result.digest}\n`);
  });
}
