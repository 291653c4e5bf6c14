/**
 * Running a client whose refusals are themselves under test (`docker login` with a wrong password,
 * a pull without credentials): a non-zero exit is an answer, returned with the output. A program
 * that cannot start, is killed or times out is still an error.
 */
import { CommandError, run, type RunOptions } from "./exec.js";

export interface StatusResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runForStatus(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<StatusResult> {
  try {
    const { stdout, stderr } = await run(cmd, args, options);
    return { code: 0, stdout, stderr };
  } catch (err) {
    if (err instanceof CommandError && err.exitCode !== null && err.signal === null) {
      return { code: err.exitCode, stdout: err.stdout, stderr: err.stderr };
    }
    throw err;
  }
}
