import { exitCodes } from "./exit.js";
import { printJson } from "./options.js";

/**
 * Wraps a command's action so that, with `--json`, a failure is also a JSON object on stdout
 * (`{"error": {"message", "exitCode"}}`) for the script reading it; the error still propagates, so
 * the one line on stderr and the exit code stay as for every command.
 */
export function withJsonErrors<A extends unknown[]>(action: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await action(...args);
    } catch (err) {
      if (wantsJson(args)) {
        const code = (err as { exitCode?: unknown } | null)?.exitCode;
        printJson({ error: { message: err instanceof Error ? err.message : String(err), exitCode: typeof code === "number" ? code : exitCodes.failure } });
      }
      throw err;
    }
  };
}

/** Commander passes the options object after the positional arguments. */
function wantsJson(args: readonly unknown[]): boolean {
  return args.some((a) => typeof a === "object" && a !== null && !Array.isArray(a) && (a as { json?: unknown }).json === true);
}
