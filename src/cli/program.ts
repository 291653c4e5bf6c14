import { Command } from "commander";
import { serveCommand } from "./serve.js";
import { mergeCommand } from "./merge.js";
import { appendCommand } from "./append.js";
import { blobCommand } from "./blob.js";
import { catalogCommand } from "./catalog.js";
import { configCommand } from "./config.js";
import { copyCommand } from "./copy.js";
import { deleteCommand } from "./delete.js";
import { digestCommand } from "./digest.js";
import { inspectCommand } from "./inspect.js";
import { loginCommand } from "./login.js";
import { logoutCommand } from "./logout.js";
import { lsCommand } from "./ls.js";
import { manifestCommand } from "./manifest.js";
import { mutateCommand } from "./mutate.js";
import { tagCommand } from "./tag.js";
import { validateCommand } from "./validate.js";
import { rebaseCommand } from "./rebase.js";
import { flattenCommand } from "./flatten.js";
import { exportCommand } from "./export.js";
import { pullCommand } from "./pull.js";
import { pushCommand } from "./push.js";
import { userCommand } from "./user.js";
import { tokenCommand } from "./token.js";
import { gcCommand } from "./gc.js";
import { fsckCommand } from "./fsck.js";
import { exitCodes, reportError } from "./exit.js";
import { printJsonError, trackRunningCommand } from "./json-errors.js";

const program = new Command("lading")
  .description("A container image registry and a daemonless image-assembly toolkit")
  .version("0.1.0")
  .showHelpAfterError();

program.addCommand(serveCommand());
program.addCommand(mergeCommand());
program.addCommand(appendCommand());
program.addCommand(blobCommand());
program.addCommand(catalogCommand());
program.addCommand(configCommand());
program.addCommand(copyCommand());
program.addCommand(deleteCommand());
program.addCommand(digestCommand());
program.addCommand(inspectCommand());
program.addCommand(loginCommand());
program.addCommand(logoutCommand());
program.addCommand(lsCommand());
program.addCommand(manifestCommand());
program.addCommand(mutateCommand());
program.addCommand(tagCommand());
program.addCommand(validateCommand());
program.addCommand(rebaseCommand());
program.addCommand(flattenCommand());
program.addCommand(exportCommand());
program.addCommand(pullCommand());
program.addCommand(pushCommand());
program.addCommand(userCommand());
program.addCommand(tokenCommand());
program.addCommand(gcCommand());
program.addCommand(fsckCommand());

// Every command, however deep, exits 2 on a usage error (commander gives subcommands no override of their parent's).
const usageExits = (command: Command): void => {
  command.exitOverride((err) => {
    if (err.exitCode !== 0) printJsonError(err, exitCodes.usage);
    process.exit(err.exitCode === 0 ? 0 : exitCodes.usage);
  });
  command.commands.forEach(usageExits);
};
usageExits(program);
trackRunningCommand(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  const code = reportError(err);
  printJsonError(err, code);
  process.exit(code);
});
