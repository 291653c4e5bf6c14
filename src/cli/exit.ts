/** Exit codes scripts can rely on (documented in the README). */
export const exitCodes = {
  ok: 0,
  failure: 1,
  usage: 2,
} as const;

/** Prints one line for an error and returns the exit code to use. */
export function reportError(err: unknown): number {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`lading: ${message}\n`);
  const code = (err as { exitCode?: unknown } | null)?.exitCode;
  return typeof code === "number" ? code : exitCodes.failure;
}
