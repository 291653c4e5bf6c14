/**
 * The line every command that writes an image prints on success, one convention for all:
 * `VERB SOURCE → TARGET (DIGEST): what it did`. With --json, the command's report instead.
 */
export function writtenLine(verb: string, source: string, target: string, digest: string, detail?: string): string {
  return `${verb} ${source} → ${target} (${digest})${detail ? `: ${detail}` : ""}\n`;
}

/** "1 layer", "2 layers"; "1 entry", "2 entries" with the plural given. */
export const count = (n: number, word: string, many = `${word}s`): string => `${n} ${n === 1 ? word : many}`;
