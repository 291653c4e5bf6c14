import * as fs from "node:fs";
import { basename, dirname, join } from "node:path";
import { errnoCode } from "./errno.js";
import type { JournalOp } from "./journal.js";

/**
 * The prefix of lading's own names under the root: the scratch directory for trees being deleted
 * (emptied when a driver is created) and the temporary file a put writes beside its target before
 * renaming it into place. `list` hides both; registry:2 reads neither.
 */
export const tempPrefix = ".lading-tmp";

/** What the paths of the directories a tree remembers may add up to, in characters (see `knownDirs`). */
const maxKnownChars = 1 << 20;

/** Errors that a replayed operation can meet for good (the tree changed shape since): it is skipped. */
const skippableReplayErrors = new Set(["EISDIR", "ENOTDIR", "ENOTEMPTY", "EEXIST"]);

/**
 * registry:2's tree under `root`, changed by journal operations with synchronous system calls:
 * the filesystem driver's apply worker runs it live, and the driver itself at open, to replay.
 *
 * A put writes its file under a temporary name beside it and renames it over the path, so readers,
 * and registry:2 after a kill, see the old content or the new, never a short file; operations run
 * in order, so a kill leaves a prefix of them (a link never before what it names). A temporary file
 * a kill leaves is hidden from `list`, ignored by registry:2, and renamed into place by the next put
 * of its path (the journal's replay, at the latest). A delete renames its object or tree into
 * scratch space in one step before removing it: a kill leaves it whole or gone.
 */
export class Tree {
  /**
   * Directories known to exist (made or seen here); an entry is dropped when a write meets ENOENT.
   * Forgotten all at once when their paths reach `maxKnownChars`: most are a manifest's or a
   * blob's own, written once, and the worker's heap is small.
   */
  private knownDirs = new Set<string>();
  private knownChars = 0;
  private trashCount = 0;

  /**
   * @param scratch scratch space, this process's alone (see owner.ts) and emptied when a driver is created
   * @param trashPrefix starts the names this tree gives in scratch space, unlike any other user's
   */
  constructor(
    private readonly root: string,
    private readonly scratch: string,
    private readonly trashPrefix: string,
  ) {}

  /**
   * Applies operations in order. Live, the first error stops them and is thrown. In a replay, an
   * operation that was already applied (a move whose source is gone, a delete of what is missing)
   * or can no longer be (the tree changed shape since) is skipped.
   */
  apply(ops: readonly JournalOp[], replay = false): void {
    for (const o of ops) {
      try {
        if (o.op === "put") this.put(o.path, o.content);
        else if (o.op === "move") this.move(o.source, o.dest, replay);
        else this.delete(o.path, replay);
      } catch (err) {
        if (!replay || !skippableReplayErrors.has(errnoCode(err) ?? "")) throw err;
      }
    }
  }

  private put(path: string, content: Uint8Array): void {
    const full = join(this.root, path);
    const temp = siblingTemp(full);
    try {
      this.retryingDir(dirname(full), () => fs.writeFileSync(temp, content));
    } catch (err) {
      // A write that failed part way (a full disk) must not keep the part that fitted.
      try {
        fs.unlinkSync(temp);
      } catch {
        // Never made; or left for the next put of the path, which writes over it.
      }
      throw err;
    }
    fs.renameSync(temp, full);
  }

  private move(source: string, dest: string, replay: boolean): void {
    const from = join(this.root, source);
    // Gone from the source in a replay: the move was applied (and the source possibly reused since).
    if (replay && !fs.existsSync(from)) return;
    const to = join(this.root, dest);
    this.retryingDir(dirname(to), () => fs.renameSync(from, to));
  }

  private delete(path: string, replay: boolean): void {
    fs.mkdirSync(this.scratch, { recursive: true });
    const trash = join(this.scratch, `${this.trashPrefix}${(++this.trashCount).toString(36)}`);
    try {
      fs.renameSync(join(this.root, path), trash);
    } catch (err) {
      if (replay && errnoCode(err) === "ENOENT") return;
      throw err;
    }
    fs.rmSync(trash, { recursive: true, force: true });
  }

  /**
   * Runs `write` in `dir`, made first (with its parents) unless known to exist; once more after
   * making it when it went away since (a delete), which `write` reports as ENOENT.
   */
  private retryingDir(dir: string, write: () => void): void {
    const known = this.knownDirs.has(dir);
    if (!known) this.makeDir(dir);
    try {
      write();
    } catch (err) {
      if (!known || errnoCode(err) !== "ENOENT") throw err;
      this.knownDirs.delete(dir);
      this.makeDir(dir);
      write();
    }
  }

  private makeDir(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    if (this.knownChars >= maxKnownChars) {
      this.knownDirs = new Set();
      this.knownChars = 0;
    }
    this.knownDirs.add(dir);
    this.knownChars += dir.length;
  }
}

/**
 * The temporary name a put writes before renaming over `full`: in the same directory, since a
 * rename between directories takes a lock that every such rename on the filesystem shares.
 * One name per target: puts of one path run one at a time, and a name a kill left behind is
 * written over and renamed by the next put of that path (the journal's replay, at the latest).
 */
export function siblingTemp(full: string): string {
  return join(dirname(full), `${tempPrefix}-${basename(full)}`);
}
