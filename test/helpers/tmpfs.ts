/**
 * A small tmpfs that a test mounts and unmounts itself (the tests run as root), to run out of space
 * or of inodes on purpose: filler files take what is left, and removing them gives it back.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import { mkdir, rm, statfs } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface TmpfsOptions {
  /** Bytes of file data it holds (rounded to pages by the kernel). */
  bytes: number;
  /** Files and directories it holds. */
  inodes: number;
}

export class Tmpfs {
  private made = 0;
  /** Fillers not yet released. */
  private readonly fillers = new Set<string>();

  private constructor(readonly root: string) {}

  /** Mounts a tmpfs on `dir` (made if missing); throws with mount's own message when it cannot. */
  static async mount(dir: string, options: TmpfsOptions): Promise<Tmpfs> {
    await mkdir(dir, { recursive: true });
    try {
      await execFileAsync("mount", ["-t", "tmpfs", "-o", `size=${options.bytes},nr_inodes=${options.inodes},mode=0755`, "tmpfs", dir]);
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr?.trim();
      throw new Error(`cannot mount a tmpfs on ${dir} (these tests need root): ${stderr || String(err)}`, { cause: err });
    }
    return new Tmpfs(dir);
  }

  path(...parts: string[]): string {
    return join(this.root, ...parts);
  }

  /** Bytes free for data, and inodes free. */
  async free(): Promise<{ bytes: number; inodes: number }> {
    const st = await statfs(this.root);
    return { bytes: st.bavail * st.bsize, inodes: st.ffree };
  }

  /** Bytes in use. */
  async used(): Promise<number> {
    const st = await statfs(this.root);
    return (st.blocks - st.bfree) * st.bsize;
  }

  /**
   * Takes every free byte with a filler file, written until the filesystem refuses even one more
   * byte. Returns the filler's path.
   */
  fillBytes(): string {
    const path = this.path(`.filler-${++this.made}`);
    const fd = fs.openSync(path, "wx");
    this.fillers.add(path);
    try {
      for (let chunk = 1 << 20; chunk >= 1; chunk >>= 4) {
        const buffer = Buffer.alloc(chunk, 0x5a);
        for (;;) {
          try {
            if (fs.writeSync(fd, buffer) < chunk) break;
          } catch (err) {
            if ((err as { code?: string }).code === "ENOSPC") break;
            throw err;
          }
        }
      }
    } finally {
      fs.closeSync(fd);
    }
    return path;
  }

  /** Takes every free inode with empty files in a directory of their own. Returns the directory. */
  fillInodes(): string {
    const dir = this.path(`.inodes-${++this.made}`);
    fs.mkdirSync(dir);
    this.fillers.add(dir);
    for (let i = 0; ; i++) {
      try {
        fs.closeSync(fs.openSync(join(dir, String(i)), "wx"));
      } catch (err) {
        if ((err as { code?: string }).code === "ENOSPC") return dir;
        throw err;
      }
    }
  }

  /** Removes a filler (a file or a directory of them), giving its space back. */
  async release(filler: string): Promise<void> {
    await rm(filler, { recursive: true, force: true });
    this.fillers.delete(filler);
  }

  /** Removes every filler not yet released (after a test that failed half way). */
  async releaseAll(): Promise<void> {
    for (const filler of [...this.fillers]) await this.release(filler);
  }

  /** Unmounts, lazily when something still holds it (a server that would not die). */
  async unmount(): Promise<void> {
    try {
      await execFileAsync("umount", [this.root]);
    } catch {
      await execFileAsync("umount", ["-l", this.root]);
    }
  }
}
