/** Temporary directories for one test file, removed together when the file is done. */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export class Scratch {
  private constructor(readonly root: string) {}

  static async create(label: string): Promise<Scratch> {
    return new Scratch(await mkdtemp(join(tmpdir(), `lading-${label}-`)));
  }

  /** A path under the scratch root; nothing is created. */
  path(...parts: string[]): string {
    return join(this.root, ...parts);
  }

  /** A fresh, empty directory under the scratch root. */
  async dir(...parts: string[]): Promise<string> {
    const dir = this.path(...parts);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /** Set KEEP_E2E_SCRATCH=1 to keep the files of a run for inspection. */
  async cleanup(): Promise<void> {
    if (process.env["KEEP_E2E_SCRATCH"] === "1") {
      process.stderr.write(`keeping scratch directory ${this.root}\n`);
      return;
    }
    await rm(this.root, { recursive: true, force: true });
  }
}
