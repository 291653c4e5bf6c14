import { Command } from "commander";
import { parseReference } from "../client/reference.js";
import { validateImageRef } from "../image/validate.js";
import { exitCodes } from "./exit.js";
import { poolFrom, printJson, registryOptions, type RegistryFlags } from "./options.js";

export function validateCommand(): Command {
  return registryOptions(new Command("validate").description(`check digests, sizes, diff_ids, history and media types as a pull would (exit ${exitCodes.invalid} on problems)`).argument("<ref>")).action(
    async (text: string, flags: RegistryFlags) => {
      const report = await validateImageRef(poolFrom(flags), parseReference(text));
      if (flags.json) printJson(report);
      else {
        for (const p of report.problems) process.stdout.write(`${p.manifest.slice(0, 19)}${p.layer === undefined ? "" : ` layer ${p.layer}`}: ${p.message}\n`);
        for (const n of report.notes) process.stdout.write(`note: ${n.manifest.slice(0, 19)}: ${n.message}\n`);
        process.stdout.write(`${report.problems.length === 0 ? "valid" : `${report.problems.length} problem(s)`}: ${report.images} image(s), ${report.layers} layer(s), ${report.digest}\n`);
      }
      if (report.problems.length > 0) process.exitCode = exitCodes.invalid;
    },
  );
}
