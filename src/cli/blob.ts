import { Command } from "commander";
import { pipeline } from "node:stream/promises";
import { openBlob, statBlob } from "../client/blobs.js";
import { ClientError } from "../client/errors.js";
import { formatReference, parseReference } from "../client/reference.js";
import { usageError } from "./exit.js";
import { poolFrom, printJson, registryOptions, type RegistryFlags } from "./options.js";

export function blobCommand(): Command {
  return registryOptions(
    new Command("blob").description("write a blob to stdout, verified against its digest as it streams (--json: its metadata only)").argument("<repo@digest>"),
  ).action(async (text: string, flags: RegistryFlags) => {
    const ref = parseReference(text);
    if (!ref.digest) throw usageError("blob needs REPOSITORY@DIGEST");
    const t = poolFrom(flags).get(ref.registry);
    if (flags.json) {
      const info = await statBlob(t, ref.repository, ref.digest);
      if (!info) throw new ClientError(`${formatReference(ref)}: blob unknown`);
      printJson({ repository: `${ref.registry}/${ref.repository}`, digest: info.digest, size: info.size });
      return;
    }
    await pipeline(openBlob(t, ref.repository, ref.digest), process.stdout);
  });
}
