import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, it } from "node:test";

/** dist/test/cli/launcher.test.js → dist/src/cli/main.js, the package's `bin`. */
const launcher = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

describe("the lading launcher", () => {
  it("runs by itself, with the Node flags its first line gives", async () => {
    const { stdout } = await promisify(execFile)(launcher, ["--version"]);
    const pkg = JSON.parse(await readFile(fileURLToPath(new URL("../../../package.json", import.meta.url)), "utf8")) as { version: string; scripts: Record<string, string> };
    assert.equal(stdout.trim(), pkg.version);
    const firstLine = (await readFile(launcher, "utf8")).split("\n")[0];
    assert.equal(firstLine, "#!/usr/bin/env -S node --max-semi-space-size=4 --no-incremental-marking");
    // `npm start` runs the server with the same flags.
    assert.equal(pkg.scripts.start, `node ${firstLine!.slice("#!/usr/bin/env -S node ".length)} dist/src/cli/main.js serve`);
  });
});
