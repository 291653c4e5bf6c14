import { Command } from "commander";
import { Groups } from "../auth/groups.js";
import { Htpasswd, isValidName } from "../auth/htpasswd.js";
import { authFileOptions, userFiles, type AuthFileFlags } from "./auth-files.js";
import { usageError } from "./exit.js";
import { collectValues, printJson } from "./options.js";
import { passwordOptions, readNewPassword, refuseArgvPassword, type PasswordFlags } from "./password-input.js";

interface UserFlags extends AuthFileFlags, PasswordFlags {
  group?: string[];
  clear?: boolean;
  json?: boolean;
}

/** `lading user`: the htpasswd file's users (bcrypt, cost 12) and their groups. */
export function userCommand(): Command {
  const user = new Command("user")
    .description("manage the users of the htpasswd file and their groups")
    .allowExcessArguments(false);
  const sub = (name: string, description: string) => authFileOptions(user.command(name).description(description).option("--json", "print the result as JSON"));

  passwordOptions(sub("add", "create a user; refuses one that exists"))
    .argument("<name>")
    .option("-g, --group <group>", "a group to put the user in (repeatable, or comma-separated)", collectValues)
    .action(
      async (name: string, flags: UserFlags) => {
        refuseArgvPassword(flags);
        checkName(name);
        const groupNames = groupsFrom(flags.group ?? []);
        const files = await userFiles(flags);
        const users = await Htpasswd.load(files.htpasswd, { missingOk: true });
        if (users.has(name)) throw new Error(`user ${name} exists (change the password with lading user passwd)`);
        const groups = await Groups.load(files.groups);
        await users.setPassword(name, await readNewPassword(name, flags));
        // Groups first: should the htpasswd write fail, a stray groups line grants nobody anything.
        if (groupNames.length > 0 || groups.of(name).length > 0) {
          groups.set(name, groupNames);
          await groups.save(files.groups);
        }
        await users.save(files.htpasswd);
        report(flags, { user: name, groups: groups.of(name), added: true }, `Added user ${name}${groupNames.length > 0 ? ` in ${groups.of(name).join(", ")}` : ""}`);
      },
    );

  passwordOptions(sub("passwd", "set an existing user's password"))
    .argument("<name>")
    .action(
      async (name: string, flags: UserFlags) => {
        refuseArgvPassword(flags);
        const files = await userFiles(flags);
        const users = await Htpasswd.load(files.htpasswd);
        if (!users.has(name)) throw new Error(`no user ${name} in ${files.htpasswd}`);
        await users.setPassword(name, await readNewPassword(name, flags));
        await users.save(files.htpasswd);
        report(flags, { user: name, passwordChanged: true }, `Changed the password of ${name}`);
      },
    );

  sub("remove", "remove a user and their groups line")
    .argument("<name>")
    .action(
      async (name: string, flags: UserFlags) => {
        const files = await userFiles(flags);
        const users = await Htpasswd.load(files.htpasswd);
        const groups = await Groups.load(files.groups);
        if (!users.remove(name)) throw new Error(`no user ${name} in ${files.htpasswd}`);
        // The htpasswd line first: once it is gone the user is locked out, whatever happens next.
        await users.save(files.htpasswd);
        if (groups.of(name).length > 0) {
          groups.set(name, []);
          await groups.save(files.groups);
        }
        report(flags, { user: name, removed: true }, `Removed user ${name}`);
      },
    );

  sub("groups", "set a user's groups (replacing the ones they had)")
    .argument("<name>")
    .argument("[groups...]", "the groups (space- or comma-separated)")
    .option("--clear", "take the user out of every group")
    .action(
      async (name: string, named: string[], flags: UserFlags) => {
        const groupNames = groupsFrom(named);
        if (groupNames.length === 0 && flags.clear !== true) throw usageError("name the groups, or pass --clear to take the user out of every group");
        if (groupNames.length > 0 && flags.clear === true) throw usageError("--clear takes no groups");
        const files = await userFiles(flags);
        const users = await Htpasswd.load(files.htpasswd);
        if (!users.has(name)) throw new Error(`no user ${name} in ${files.htpasswd}`);
        const groups = await Groups.load(files.groups);
        groups.set(name, groupNames);
        await groups.save(files.groups);
        const now = groups.of(name);
        report(flags, { user: name, groups: now }, now.length === 0 ? `${name} is in no group` : `${name} is in ${now.join(", ")}`);
      },
    );

  sub("list", "list the users with their groups")
    .action(
      async (flags: UserFlags) => {
        const files = await userFiles(flags);
        const [users, groups] = await Promise.all([Htpasswd.load(files.htpasswd), Groups.load(files.groups)]);
        const rows = users.users().map((name) => ({ name, groups: [...groups.of(name)] }));
        if (flags.json) return printJson({ users: rows });
        const width = Math.max(0, ...rows.map((r) => r.name.length));
        for (const r of rows) process.stdout.write(`${r.groups.length === 0 ? r.name : `${r.name.padEnd(width)}  ${r.groups.join(",")}`}\n`);
      },
    );
  return user;
}

function checkName(name: string): void {
  if (!isValidName(name)) throw usageError(`invalid user name ${JSON.stringify(name)}: up to 128 letters, digits, '.', '_', '-' and '@', starting with a letter or digit`);
}

function groupsFrom(values: readonly string[]): string[] {
  const names = values.flatMap((v) => v.split(",")).map((g) => g.trim()).filter((g) => g !== "");
  const bad = names.find((g) => !isValidName(g));
  if (bad !== undefined) throw usageError(`invalid group name ${JSON.stringify(bad)}: letters, digits, '.', '_', '-' and '@'`);
  return names;
}

function report(flags: UserFlags, json: object, text: string): void {
  if (flags.json) printJson(json);
  else process.stdout.write(`${text}\n`);
}
