import { Command } from "commander";
import { isValidName } from "../auth/htpasswd.js";
import { allActions, type Action } from "../auth/policy.js";
import { Robots, type Robot } from "../auth/robots.js";
import { parseDuration } from "../config/duration.js";
import { authFileOptions, robotsFile, type AuthFileFlags } from "./auth-files.js";
import { usageError } from "./exit.js";
import { collectValues, printJson } from "./options.js";

interface TokenFlags extends AuthFileFlags {
  name?: string;
  repos?: string[];
  actions?: string[];
  expires?: string;
  json?: boolean;
}

/** `lading token`: robot tokens for CI, fixed actions on fixed repositories, outside the policy. */
export function tokenCommand(): Command {
  const token = new Command("token")
    .description("manage robot tokens: secrets that grant fixed actions on fixed repositories")
    .allowExcessArguments(false);
  const sub = (name: string, description: string) => authFileOptions(token.command(name).description(description).option("--json", "print the result as JSON"));

  sub("create", "create a robot token and print its secret, the only time it is shown (on stdout, alone)")
    .option("--name <name>", "the robot's name (letters, digits, '.', '-', '@'); it signs in as robot:NAME")
    .option("--repos <globs>", "repositories it may use: comma-separated globs, e.g. 'team/*' or 'team/**' (repeatable)", collectValues)
    .option("--actions <list>", "what it may do there: pull, push, delete or * (comma-separated, repeatable)", collectValues)
    .option("--expires <duration>", "lifetime, e.g. 90d, 12h, 30m, 1d12h (default: never expires)")
    .action(
      async (flags: TokenFlags) => {
        const spec = {
          name: robotName(flags.name),
          repositories: repositoriesFrom(flags.repos ?? []),
          actions: actionsFrom(flags.actions ?? []),
          ...(flags.expires === undefined ? {} : { expiresInMs: expiryFrom(flags.expires) }),
        };
        const file = await robotsFile(flags);
        const robots = await Robots.load(file);
        const secret = robots.create(spec);
        await robots.save(file);
        const robot = robots.list().find((r) => r.name === spec.name)!;
        if (flags.json) return printJson({ ...describe(robot, Date.now()), secret });
        process.stdout.write(`${secret}\n`);
        process.stderr.write(
          `Created robot token ${robot.name}: ${robot.actions.join(", ")} on ${robot.repositories.join(", ")}, ${robot.expires === undefined ? "never expires" : `expires ${robot.expires}`}.\n` +
            "The secret above is shown only this once. Sign in with it as the password (any user name).\n",
        );
      },
    );

  sub("list", "list robot tokens (never their secrets)").action(
    async (flags: TokenFlags) => {
      const now = Date.now();
      const rows = (await Robots.load(await robotsFile(flags))).list().map((robot) => describe(robot, now));
      if (flags.json) return printJson({ robots: rows });
      const table = [["NAME", "REPOSITORIES", "ACTIONS", "CREATED", "EXPIRES"]].concat(
        rows.map((r) => [r.name, r.repositories.join(","), r.actions.join(","), r.created, r.expires === null ? "never" : r.expired ? `${r.expires} (expired)` : r.expires]),
      );
      const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
      for (const row of table) process.stdout.write(`${row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()}\n`);
    },
  );

  sub("revoke", "delete a robot token: its secret stops working")
    .argument("<name>")
    .action(
      async (name: string, flags: TokenFlags) => {
        const file = await robotsFile(flags);
        const robots = await Robots.load(file);
        if (!robots.revoke(name)) throw new Error(`no robot token named ${name} in ${file}`);
        await robots.save(file);
        if (flags.json) printJson({ name, revoked: true });
        else process.stdout.write(`Revoked robot token ${name}\n`);
      },
    );
  return token;
}

/** What may be shown of a robot: everything but the hash. */
function describe(robot: Robot, now: number) {
  const expires = robot.expires ?? null;
  return { name: robot.name, repositories: robot.repositories, actions: robot.actions, created: robot.created, expires, expired: expires !== null && Date.parse(expires) <= now };
}

function robotName(name: string | undefined): string {
  if (name === undefined) throw usageError("token create needs --name NAME");
  // `_` would break the secret's `lading_robot_<name>_<hex>` layout.
  if (!isValidName(name) || name.includes("_")) throw usageError(`invalid robot name ${JSON.stringify(name)}: letters, digits, '.', '-' and '@', starting with a letter or digit`);
  return name;
}

/** Repository names are lowercase paths; a glob adds `*`, `**` and `?`. */
const repositoryGlob = /^[a-z0-9*?][a-z0-9._*?-]*(\/[a-z0-9*?][a-z0-9._*?-]*)*$/;

function repositoriesFrom(values: readonly string[]): string[] {
  const globs = [...new Set(splitList(values))];
  if (globs.length === 0) throw usageError("token create needs --repos GLOB[,GLOB...], e.g. --repos 'team/*'");
  const bad = globs.find((g) => !repositoryGlob.test(g));
  if (bad !== undefined) throw usageError(`invalid repository glob ${JSON.stringify(bad)}: lowercase letters, digits, '.', '_', '-', '/' and the wildcards *, ** and ?`);
  return globs;
}

function actionsFrom(values: readonly string[]): Action[] {
  const named = splitList(values);
  if (named.length === 0) throw usageError("token create needs --actions, from pull, push, delete, *");
  const unknown = named.find((a) => a !== "*" && !(allActions as readonly string[]).includes(a));
  if (unknown !== undefined) throw usageError(`unknown action ${JSON.stringify(unknown)}: use pull, push, delete or *`);
  return allActions.filter((a) => named.includes("*") || named.includes(a));
}

/** A lifetime: Go's duration syntax (12h, 30m, 1h30m) with days and weeks in front (90d, 2w, 1d12h). */
export function expiryFrom(text: string): number {
  const match = /^(?:(\d+)w)?(?:(\d+)d)?(.*)$/.exec(text.trim())!;
  const rest = match[3]!;
  const restMs = rest === "" ? 0 : parseDuration(rest);
  const ms = restMs === undefined ? undefined : Number(match[1] ?? 0) * 7 * 86_400_000 + Number(match[2] ?? 0) * 86_400_000 + restMs;
  if (ms === undefined || !(ms > 0) || !Number.isFinite(new Date(Date.now() + ms).getTime())) {
    throw usageError(`invalid --expires ${JSON.stringify(text)}: a duration such as 90d, 12h, 30m or 1d12h`);
  }
  return ms;
}

function splitList(values: readonly string[]): string[] {
  return values.flatMap((v) => v.split(",")).map((s) => s.trim()).filter((s) => s !== "");
}
