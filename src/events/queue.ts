import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { QueuedEvent } from "./event.js";

/**
 * An endpoint's events waiting to be delivered, oldest first, at most `max` of them: past that the
 * oldest are dropped (and counted), so a receiver that never comes back costs bounded memory and
 * disk. Pending events are kept in memory as the JSON lines they are stored as.
 */
export class EventQueue {
  private lines: string[] = [];
  private head: QueuedEvent | undefined;
  dropped = 0;

  constructor(
    private readonly max: number,
    private readonly journal?: Journal,
  ) {
    if (journal !== undefined) this.lines = journal.pending();
    this.trim();
  }

  get pending(): number {
    return this.lines.length;
  }

  /** Events as their JSON lines (made once for every endpoint that takes them). */
  append(lines: readonly string[]): void {
    if (lines.length === 0) return;
    this.journal?.append(lines);
    this.lines.push(...lines);
    this.trim();
  }

  /** The oldest undelivered event, or undefined when none waits. */
  peek(): QueuedEvent | undefined {
    while (this.head === undefined && this.lines.length > 0) {
      try {
        this.head = JSON.parse(this.lines[0]!) as QueuedEvent;
      } catch {
        // A line a crash cut short: there is nothing to deliver of it.
        this.dropped++;
        this.shift(1);
      }
    }
    return this.head;
  }

  /** The event `peek` gave is delivered. */
  ack(): void {
    if (this.lines.length > 0) this.shift(1);
  }

  close(): void {
    this.journal?.close(this.lines);
  }

  private trim(): void {
    const over = this.lines.length - this.max;
    if (over <= 0) return;
    this.dropped += over;
    this.shift(over);
  }

  private shift(n: number): void {
    this.lines.splice(0, n);
    this.head = undefined;
    this.journal?.delivered(n, this.lines);
  }
}

/** Delivered lines are compacted away once this many have piled up in the journal. */
const compactAfter = 10_000;
/** The delivery cursor is written at most this often (and at close): a crash redelivers at most this much. */
const cursorEveryMs = 200;

/**
 * Where a queue keeps its events on disk: `events.jsonl`, appended before the request's answer is
 * counted (so a restart, even a kill, loses none), and `cursor`, how many of its lines are
 * delivered. Delivery is at least once: after a crash, the events delivered since the cursor was
 * last written are sent again.
 */
export class Journal {
  private readonly file: string;
  private readonly cursorFile: string;
  private cursor = 0;
  private cursorWritten = 0;
  private cursorAt = 0;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, "events.jsonl");
    this.cursorFile = join(dir, "cursor");
  }

  /** What a previous run left undelivered; the journal then holds just that. */
  pending(): string[] {
    const text = readOptional(this.file) ?? "";
    const all = text.split("\n");
    // A last line without its newline was cut short by a crash: it is kept, and fails to parse.
    if (all.at(-1) === "") all.pop();
    const cursor = Number(readOptional(this.cursorFile) ?? "0");
    const pending = all.slice(Number.isSafeInteger(cursor) && cursor > 0 ? cursor : 0);
    this.rewrite(pending);
    return pending;
  }

  append(lines: readonly string[]): void {
    appendFileSync(this.file, `${lines.join("\n")}\n`);
  }

  /** `n` more lines are delivered (or dropped); `pending` is what is left. */
  delivered(n: number, pending: readonly string[]): void {
    this.cursor += n;
    if (this.cursor >= compactAfter && this.cursor > pending.length) this.rewrite(pending);
    else if (Date.now() - this.cursorAt >= cursorEveryMs) this.writeCursor();
  }

  close(pending: readonly string[]): void {
    this.rewrite(pending);
  }

  /** The journal holding only `pending`, the cursor at its start. */
  private rewrite(pending: readonly string[]): void {
    writeFileSync(`${this.file}.tmp`, pending.length === 0 ? "" : `${pending.join("\n")}\n`);
    // The cursor goes back to 0 before the journal is replaced: a crash between the two sends
    // delivered events again, never skips pending ones.
    this.cursor = 0;
    this.cursorWritten = -1;
    this.writeCursor();
    renameSync(`${this.file}.tmp`, this.file);
  }

  private writeCursor(): void {
    if (this.cursor === this.cursorWritten) return;
    writeFileSync(`${this.cursorFile}.tmp`, String(this.cursor));
    renameSync(`${this.cursorFile}.tmp`, this.cursorFile);
    this.cursorWritten = this.cursor;
    this.cursorAt = Date.now();
  }
}

function readOptional(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}
