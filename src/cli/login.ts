import { Command } from "commander";
import { storeCredentials } from "../client/auth-config.js";
import { Transport } from "../client/transport.js";
import { usageError } from "./exit.js";
import { fromStdin } from "./password-input.js";
import { printJson } from "./options.js";

interface LoginFlags {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
  insecure?: boolean;
  authfile?: string;
  json?: boolean;
}

export function loginCommand(): Command {
  return new Command("login")
    .description("check credentials against a registry and save them (credential helper if configured, else ~/.docker/config.json)")
    .argument("<registry>", "host[:port]")
    .option("-u, --username <name>")
    .option("-p, --password <password>", "prefer --password-stdin: a password here lands in shell history")
    .option("--password-stdin", "read the password from stdin")
    .option("--insecure", "plain HTTP (loopback always is)")
    .option("--authfile <path>", "save to this file instead")
    .option("--json", "print the result as JSON")
    .action(async (registry: string, flags: LoginFlags) => {
      if (!flags.username) throw usageError("login needs --username");
      let password = flags.password;
      if (flags.passwordStdin) password = await fromStdin();
      if (password === undefined) throw usageError("login needs --password or --password-stdin");
      const t = new Transport(registry, { insecure: flags.insecure === true, credentials: { username: flags.username, password } });
      await t.ping();
      const where = await storeCredentials(registry, flags.username, password, flags.authfile ? { authFile: flags.authfile } : {});
      if (flags.json) printJson({ registry, username: flags.username, savedTo: where });
      else process.stdout.write(`Login Succeeded (saved to ${where})\n`);
    });
}
