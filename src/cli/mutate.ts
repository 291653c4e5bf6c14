import { Command } from "commander";
import { formatReference, parseReference } from "../client/reference.js";
import type { ConfigChanges } from "../image/config-changes.js";
import { applyChanges } from "../image/config-changes.js";
import { parsePlatform } from "../image/platform.js";
import { loadImage } from "../image/remote.js";
import { writeImage } from "../image/write.js";
import { usageError } from "./exit.js";
import { collectValues, platformOption, poolFrom, printJson, registryOptions, type RegistryFlags, platformArgument } from "./options.js";
import { writtenLine } from "../image/written.js";

interface MutateFlags extends RegistryFlags {
  tag?: string; env?: string[]; label?: string[]; annotation?: string[]; entrypoint?: string; cmd?: string; workdir?: string; user?: string; exposedPort?: string[]; setPlatform?: string; platform?: string;
}

/** `K=V` to set, `K-` to remove. */
function pairs(list: string[] | undefined, what: string): Record<string, string | undefined> | undefined {
  if (!list) return undefined;
  return Object.fromEntries(list.map((p) => {
    if (p.endsWith("-") && !p.includes("=")) return [p.slice(0, -1), undefined];
    const eq = p.indexOf("=");
    if (eq <= 0) throw usageError(`--${what} wants KEY=VALUE or KEY-, got ${JSON.stringify(p)}`);
    return [p.slice(0, eq), p.slice(eq + 1)];
  }));
}

const jsonList = (s: string | undefined) => (s === undefined ? undefined : s.trim().startsWith("[") ? (JSON.parse(s) as string[]) : s === "" ? null : s.split(" "));

export function mutateCommand(): Command {
  return registryOptions(
    new Command("mutate").description("change an image's config (env, entrypoint, cmd, workdir, user, labels, ports, platform) or annotations; layers stay")
      .argument("<ref>").option("-t, --tag <target>", "where to push the result (default: in place)")
      .option("--env <K=V|K->", "set or remove an environment variable", collectValues).option("--label <K=V|K->", "set or remove a label", collectValues)
      .option("--annotation <K=V>", "set a manifest annotation", collectValues).option("--entrypoint <json|words>").option("--cmd <json|words>")
      .option("--workdir <dir>").option("--user <user>").option("--exposed-port <port[/proto]>", "expose a port", collectValues)
      .option("--set-platform <os/arch[/variant]>", "rewrite the config's platform", platformArgument).addOption(platformOption()),
  ).action(async (text: string, flags: MutateFlags) => {
    const ref = parseReference(text);
    const pool = poolFrom(flags);
    const image = await loadImage(pool, ref, flags.platform ? parsePlatform(flags.platform) : undefined);
    const changes: ConfigChanges = {};
    const env = pairs(flags.env, "env"); if (env) changes.env = env;
    const labels = pairs(flags.label, "label"); if (labels) changes.labels = labels;
    const entrypoint = jsonList(flags.entrypoint); if (entrypoint !== undefined) changes.entrypoint = entrypoint;
    const cmd = jsonList(flags.cmd); if (cmd !== undefined) changes.cmd = cmd;
    if (flags.workdir !== undefined) changes.workdir = flags.workdir;
    if (flags.user !== undefined) changes.user = flags.user;
    if (flags.exposedPort) changes.exposedPorts = flags.exposedPort;
    if (flags.setPlatform) { const p = parsePlatform(flags.setPlatform); changes.os = p.os; changes.architecture = p.architecture; if (p.variant) changes.variant = p.variant; }
    const annotations = Object.fromEntries(Object.entries(pairs(flags.annotation, "annotation") ?? {}).filter((e): e is [string, string] => e[1] !== undefined));
    const target = flags.tag ? parseReference(flags.tag) : ref.digest ? undefined : ref;
    if (!target) throw usageError("mutating an image named by digest needs --tag");
    const result = await writeImage(pool, image, target, applyChanges(image.config, changes), { annotations });
    if (flags.json) printJson(result);
    else process.stdout.write(writtenLine("mutated", formatReference(ref), formatReference(target), result.digest, "config changed, layers kept"));
  });
}
