/**
 * The images the end-to-end tests push and pull, and the checks that a copy came back whole:
 * the same files with the same bytes, deleted files absent, the same config.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileData, type ImageSpec, type Unpacked } from "./umoci.js";

export const singleLayer: ImageSpec = {
  layers: [{ "hello.txt": "hello from lading\n", "etc/motd": "single-layer image\n" }],
  config: { env: ["GREETING=hello", "LADING_E2E=1"], entrypoint: ["/bin/sh", "-c"], cmd: ["cat /hello.txt"] },
};

/** Three layers: the second changes a file of the first, the third deletes one (a whiteout). */
export const multiLayer: ImageSpec = {
  layers: [
    { "app/a.txt": "a, version 1\n", "app/tool.bin": randomBytes(64 * 1024), "etc/os-release": 'ID="lading-test"\n' },
    { "app/a.txt": "a, version 2\n", "app/data/b.txt": "b\n" },
    { "app/tool.bin": null, "app/c.txt": "c\n" },
  ],
  config: { env: ["APP_MODE=multi"], entrypoint: ["/app/run"], labels: { "org.example.layers": "3" } },
};

export function archImage(architecture: string): ImageSpec {
  return {
    layers: [{ "arch.txt": `built for ${architecture}\n` }],
    config: { architecture, os: "linux", env: [`ARCH=${architecture}`] },
  };
}

/** One layer holding `mib` MiB of random bytes: gzip cannot shrink it, so the blob is that big. */
export function bigImage(mib: number): ImageSpec {
  return { layers: [{ "big/random.bin": randomBytes(mib * 1024 * 1024), "big/README": "random bytes\n" }] };
}

/** Path → final contents after applying every layer in order; deleted paths map to null. */
export function finalFiles(spec: ImageSpec): Map<string, Buffer | null> {
  const files = new Map<string, Buffer | null>();
  for (const layer of spec.layers) {
    for (const [path, contents] of Object.entries(layer)) {
      files.set(path, contents === null ? null : fileData(contents));
    }
  }
  return files;
}

/** Asserts that a root filesystem holds the spec's files with their bytes, and not its deleted ones. */
export async function assertFiles(rootfs: string, spec: ImageSpec): Promise<void> {
  for (const [path, expected] of finalFiles(spec)) {
    const actual = await readFile(join(rootfs, path)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return null;
      throw err;
    });
    if (expected === null) {
      assert.equal(actual, null, `${path} was deleted by a later layer and must not come back`);
    } else {
      assert.ok(actual !== null, `${path} is missing`);
      assert.ok(actual.equals(expected), `${path}: ${actual.length} bytes differ from the ${expected.length} bytes pushed`);
    }
  }
}

/** Asserts that an unpacked image holds exactly the spec's files and config. */
export async function assertImageContents(unpacked: Unpacked, spec: ImageSpec): Promise<void> {
  await assertFiles(unpacked.rootfs, spec);
  for (const env of spec.config?.env ?? []) {
    assert.ok(unpacked.runtime.process.env.includes(env), `env ${env} missing from ${JSON.stringify(unpacked.runtime.process.env)}`);
  }
  const entrypoint = spec.config?.entrypoint;
  if (entrypoint !== undefined) {
    assert.deepEqual(unpacked.runtime.process.args, [...entrypoint, ...(spec.config?.cmd ?? [])]);
  }
}

/** A runnable image: Debian's static busybox as its only program (needs busybox-static). */
export function busyboxImage(): ImageSpec {
  return {
    layers: [{ "bin/busybox": { data: readFileSync("/bin/busybox"), mode: 0o755 }, "hello.txt": "hello from a container\n" }],
    config: { entrypoint: ["/bin/busybox"], cmd: ["cat", "/hello.txt"], env: ["PATH=/bin"] },
  };
}
