/** The lading CLI of this checkout (dist/), run as a child process for tests of commands. */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const ladingMain = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `lading ARGS` to its end, without the caller's LADING_* settings; resolves with its exit code and output. */
export function runLading(args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("LADING_")));
    const child = spawn(process.execPath, [ladingMain, ...args], { stdio: ["ignore", "pipe", "pipe"], env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
