/**
 * Exit codes scripts can rely on (documented in the README):
 * 0 ok; 1 failure (registry, network, invalid content); 2 usage (bad flags or references);
 * 3 conflicts found under --strict (merge); 4 validation found problems (validate).
 */
export const exitCodes = {
  ok: 0,
  failure: 1,
  usage: 2,
  conflicts: 3,
  invalid: 4,
} as const;

/** Prints one line for an error and returns the exit code to use. */
export function reportError(err: unknown): number {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`lading: ${message.replace(/\s*\n\s*/g, " ")}\n`);
  const code = (err as { exitCode?: unknown } | null)?.exitCode;
  return typeof code === "number" ? code : exitCodes.failure;
}

/** An error in how the command was called: exit code 2. */
export function usageError(message: string): Error & { exitCode: number } {
  return Object.assign(new Error(message), { exitCode: exitCodes.usage });
}
