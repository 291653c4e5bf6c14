import { Option, type Command } from "commander";
import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import { usageError } from "./exit.js";

/** bcrypt reads only this many bytes of a password; the rest would be silently ignored. */
const bcryptMaxBytes = 72;

export interface PasswordFlags {
  passwordStdin?: boolean;
  /** Accepted by the parser only to refuse it with a useful message. */
  password?: string;
}

export function passwordOptions(cmd: Command): Command {
  return cmd
    .option("--password-stdin", "read the password from stdin (one line); otherwise it is asked twice on the terminal")
    .addOption(new Option("-p, --password <password>").hideHelp());
}

/**
 * A new password: one line from stdin with `--password-stdin`, else asked twice on the terminal
 * without echo. Never from argv, where it would land in shell history and `ps`.
 */
export async function readNewPassword(user: string, flags: PasswordFlags): Promise<string> {
  refuseArgvPassword(flags);
  const password = flags.passwordStdin === true ? await fromStdin() : await fromTerminal(user);
  if (password === "") throw usageError("refusing an empty password");
  if (Buffer.byteLength(password, "utf8") > bcryptMaxBytes) throw usageError(`the password is longer than ${bcryptMaxBytes} bytes, and bcrypt ignores the rest`);
  return password;
}

/** Called first thing, so that a password in argv is refused before anything else is looked at. */
export function refuseArgvPassword(flags: PasswordFlags): void {
  if (flags.password !== undefined) {
    throw usageError("a password on the command line lands in shell history and ps: pipe it in with --password-stdin, or type it at the prompt");
  }
}

/** One line from stdin (a pipe, a file or a socket), the line end dropped. */
export async function fromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
  if (/[\r\n]/.test(password)) throw usageError("--password-stdin reads one line; stdin has more");
  return password;
}

async function fromTerminal(user: string): Promise<string> {
  if (!process.stdin.isTTY) throw usageError("no terminal to ask for the password on: pass it on stdin with --password-stdin");
  // readline's echo goes to a stream that drops it; raw mode keeps the terminal from echoing.
  const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
  const rl = createInterface({ input: process.stdin, output: silent, terminal: true });
  rl.on("SIGINT", () => {
    rl.close();
    process.stderr.write("\n");
    process.exit(130);
  });
  // One reader for both answers: lines typed (or pasted) ahead are kept, not lost between them.
  const lines = rl[Symbol.asyncIterator]();
  const ask = async (prompt: string): Promise<string> => {
    process.stderr.write(prompt);
    const line = await lines.next();
    process.stderr.write("\n");
    if (line.done === true) throw new Error("no password given");
    return line.value;
  };
  try {
    const first = await ask(`New password for ${user}: `);
    const second = await ask("Retype the password: ");
    if (first !== second) throw new Error("the passwords do not match");
    return first;
  } finally {
    rl.close();
  }
}
