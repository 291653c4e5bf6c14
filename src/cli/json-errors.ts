import type { Command } from "commander";
import { printJson } from "./options.js";

/** The command commander is running, once it has parsed its options. */
let running: Command | undefined;

/** Follows which command runs, so that a failure can be answered in the form it asked for. */
export function trackRunningCommand(program: Command): void {
  program.hook("preAction", (_program, action) => {
    running = action;
  });
}

/**
 * With `--json`, a failure is also a JSON object on stdout (`{"error": {"message", "exitCode"}}`)
 * for the script reading it, whichever command failed and however (in its action, or while
 * commander parsed its flags); the one line on stderr and the exit code stay as for every command.
 */
export function printJsonError(err: unknown, exitCode: number): void {
  const json = running === undefined ? process.argv.slice(2).includes("--json") : running.opts()["json"] === true;
  if (!json) return;
  const message = err instanceof Error ? err.message : String(err);
  printJson({ error: { message: message.replace(/^error: /, ""), exitCode } });
}

