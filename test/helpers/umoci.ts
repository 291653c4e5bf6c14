/**
 * Test images built offline with umoci in OCI layouts: a layout, an empty image, layers that add,
 * change or remove files, and config edits. Unpacking reads an image's files back for comparison.
 */
import { chmod, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { run } from "./exec.js";
import { readImage, tagDescriptor, type Descriptor } from "./oci-layout.js";

/** A file with an explicit mode, e.g. an executable. */
export interface FileEntry {
  data: Buffer | string;
  mode: number;
}

/** Path inside the image → new contents, or null to delete the file (a whiteout in the layer). */
export type FileChanges = Record<string, Buffer | string | FileEntry | null>;

export function fileData(contents: Buffer | string | FileEntry): Buffer {
  if (typeof contents === "string" || Buffer.isBuffer(contents)) return Buffer.from(contents);
  return Buffer.from(contents.data);
}

export interface ConfigChanges {
  env?: string[];
  entrypoint?: string[];
  cmd?: string[];
  architecture?: string;
  os?: string;
  labels?: Record<string, string>;
}

export async function initLayout(layout: string): Promise<void> {
  await run("umoci", ["init", "--layout", layout]);
}

/** An image with no layers, tagged `tag`. */
export async function newImage(layout: string, tag: string): Promise<void> {
  await run("umoci", ["new", "--image", `${layout}:${tag}`]);
}

/** Tags `to` as `from` plus one layer holding `changes`. `work` is a scratch directory for the bundle. */
export async function addLayer(layout: string, from: string, to: string, changes: FileChanges, work: string): Promise<void> {
  const bundle = join(work, `bundle-${to}-${process.hrtime.bigint()}`);
  await run("umoci", ["unpack", "--rootless", "--image", `${layout}:${from}`, bundle]);
  try {
    for (const [path, contents] of Object.entries(changes)) {
      const target = join(bundle, "rootfs", path);
      if (contents === null) {
        await rm(target, { recursive: true });
      } else {
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, fileData(contents));
        if (typeof contents === "object" && !Buffer.isBuffer(contents)) await chmod(target, contents.mode);
      }
    }
    await run("umoci", ["repack", "--image", `${layout}:${to}`, bundle]);
  } finally {
    await rm(bundle, { recursive: true, force: true });
  }
}

/** Edits the config of `tag` in place (a new manifest under the same tag). */
export async function configure(layout: string, tag: string, changes: ConfigChanges): Promise<void> {
  const args = ["config", "--image", `${layout}:${tag}`];
  for (const e of changes.env ?? []) args.push("--config.env", e);
  for (const e of changes.entrypoint ?? []) args.push("--config.entrypoint", e);
  for (const c of changes.cmd ?? []) args.push("--config.cmd", c);
  for (const [k, v] of Object.entries(changes.labels ?? {})) args.push("--config.label", `${k}=${v}`);
  if (changes.architecture !== undefined) args.push("--architecture", changes.architecture);
  if (changes.os !== undefined) args.push("--os", changes.os);
  await run("umoci", args);
}

export interface ImageSpec {
  /** One entry per layer, applied in order over an empty image. */
  layers: FileChanges[];
  config?: ConfigChanges;
}

/**
 * Builds `tag` in `layout` (initialised if needed) from `spec` and returns its manifest descriptor,
 * with a platform taken from the config (for assembling indexes).
 */
export async function buildImage(layout: string, tag: string, spec: ImageSpec, work: string): Promise<Descriptor> {
  if (!(await exists(join(layout, "index.json")))) await initLayout(layout);
  const base = `${tag}-base`;
  await newImage(layout, base);
  let from = base;
  for (const [i, changes] of spec.layers.entries()) {
    const to = i === spec.layers.length - 1 ? tag : `${tag}-layer${i}`;
    await addLayer(layout, from, to, changes, work);
    from = to;
  }
  if (spec.layers.length === 0) await run("umoci", ["tag", "--image", `${layout}:${base}`, tag]);
  if (spec.config !== undefined) await configure(layout, tag, spec.config);
  const descriptor = await tagDescriptor(layout, tag);
  const { config } = await readImage(layout, descriptor.digest);
  return { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size, platform: { architecture: config.architecture, os: config.os } };
}

export interface Unpacked {
  /** The root filesystem directory of the unpacked bundle. */
  rootfs: string;
  /** The runtime config umoci generated from the image config (process.env, process.args). */
  runtime: { process: { env: string[]; args: string[] } };
  read(path: string): Promise<Buffer>;
  has(path: string): Promise<boolean>;
}

/** Unpacks `tag` of `layout` into `bundle` (which must not exist yet). */
export async function unpack(layout: string, tag: string, bundle: string): Promise<Unpacked> {
  await run("umoci", ["unpack", "--rootless", "--image", `${layout}:${tag}`, bundle]);
  const rootfs = join(bundle, "rootfs");
  const runtime = JSON.parse(await readFile(join(bundle, "config.json"), "utf8")) as Unpacked["runtime"];
  return {
    rootfs,
    runtime,
    read: (path) => readFile(join(rootfs, path)),
    has: (path) => exists(join(rootfs, path)),
  };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
