import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { formatReference, parseReference } from "../client/reference.js";
import { layerEntries, LayerReadError, normalizePath } from "./layer-reader.js";
import { ImageError } from "./types.js";

/**
 * The `docker save` format: a tar holding
 *
 *   manifest.json        [{"Config":"<hex>.json","RepoTags":["repo:tag"],"Layers":["<id>/layer.tar",...]}]
 *   repositories         {"repo":{"tag":"<id of the top layer>"}}   (the pre-1.10 index, still written)
 *   <hex>.json           the image config, exact bytes (hex is its sha256)
 *   <id>/layer.tar       each layer, uncompressed (its sha256 is the diff_id)
 *
 * Newer docker writes an OCI layout in the same tar with manifest.json pointing into blobs/: the
 * paths are read from manifest.json, so both forms load.
 */
export interface ArchiveEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
}

export interface ExtractedArchive {
  /** Where the archive was unpacked; paths in `entries` are relative to it. */
  dir: string;
  entries: ArchiveEntry[];
  cleanup(): Promise<void>;
}

function parseArchiveManifest(text: string, file: string): ArchiveEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ImageError(`${file}: manifest.json is not valid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(json)) throw new ImageError(`${file}: manifest.json is not a list`);
  return json.map((e: unknown, i) => {
    const r = e as Partial<ArchiveEntry> | null;
    if (!r || typeof r.Config !== "string" || !Array.isArray(r.Layers) || r.Layers.some((l) => typeof l !== "string")) {
      throw new ImageError(`${file}: manifest.json entry ${i} lacks Config or Layers`);
    }
    return { Config: r.Config, RepoTags: Array.isArray(r.RepoTags) ? r.RepoTags.filter((t): t is string => typeof t === "string") : null, Layers: r.Layers };
  });
}

/** Unpacks an archive's regular files into a temporary directory (layers can be large: they go to disk, not memory). */
export async function extractArchive(file: string): Promise<ExtractedArchive> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "lading-archive-"));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    // docker load takes the archive gzipped or zstd-compressed too: so does the layer reader.
    for await (const entry of layerEntries(createReadStream(file))) {
      const name = normalizePath(entry.header.name);
      if (entry.header.type !== "file" || name === "" || name.split("/").includes("..")) {
        entry.resume();
        continue;
      }
      const target = path.join(dir, name);
      await mkdir(path.dirname(target), { recursive: true });
      await pipeline(entry, createWriteStream(target));
    }
    const manifest = await readFile(path.join(dir, "manifest.json"), "utf8").catch(() => {
      throw new ImageError(`${file} is not a docker save archive (no manifest.json)`);
    });
    return { dir, entries: parseArchiveManifest(manifest, file), cleanup };
  } catch (err) {
    await cleanup();
    if (err instanceof LayerReadError) throw new ImageError(`${file}: ${err.message}`, { cause: err });
    if (err instanceof ImageError) throw err;
    throw new ImageError(`reading ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** The image an archive holds under `name` (a RepoTag), or its only image when no name is given. */
export function selectEntry(archive: ExtractedArchive, name: string | undefined, file: string): ArchiveEntry {
  const { entries } = archive;
  if (name === undefined) {
    if (entries.length === 1) return entries[0]!;
    throw new ImageError(`${file} holds ${entries.length} images: name one of ${entries.flatMap((e) => e.RepoTags ?? []).join(", ") || "(untagged)"}`);
  }
  // Names compare as docker normalizes them: `example/app:1` is `docker.io/example/app:1` (skopeo writes the latter).
  const normal = (n: string) => {
    try {
      return formatReference(parseReference(n));
    } catch {
      return n;
    }
  };
  const wanted = normal(name);
  const found = entries.find((e) => (e.RepoTags ?? []).some((t) => normal(t) === wanted));
  if (!found) throw new ImageError(`${file} has no image tagged ${name}`);
  return found;
}

/** An archive path inside the extracted directory, refusing names that escape it. */
export function archivePath(archive: ExtractedArchive, name: string): string {
  const rel = normalizePath(name);
  if (rel === "" || rel.split("/").includes("..")) throw new ImageError(`archive path ${JSON.stringify(name)} is not allowed`);
  return path.join(archive.dir, rel);
}

export interface ArchiveImage {
  configBytes: Buffer;
  /** The config's sha256 hex: its file name in the archive. */
  configHex: string;
  repoTags: string[];
  /** Uncompressed layer files, in order, with their diff_ids. */
  layers: { file: string; diffId: string }[];
}

/** Writes one image in the `docker save` format; a layer repeated in the image is stored once. */
export function packArchive(image: ArchiveImage): Readable {
  const pack = tar.pack();
  const mtime = new Date(0);
  const ids = image.layers.map((l) => l.diffId.replace(/^sha256:/, ""));
  const write = async () => {
    const add = (name: string, body: Buffer) => new Promise<void>((resolve, reject) => pack.entry({ name, mtime, mode: 0o644 }, body, (err) => (err ? reject(err) : resolve())));
    const written = new Set<string>();
    for (const [i, layer] of image.layers.entries()) {
      const id = ids[i]!;
      if (written.has(id)) continue;
      written.add(id);
      await new Promise<void>((resolve, reject) => pack.entry({ name: `${id}/`, type: "directory", mtime, mode: 0o755 }, (err) => (err ? reject(err) : resolve())));
      await add(`${id}/VERSION`, Buffer.from("1.0"));
      const { size } = await stat(layer.file);
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry({ name: `${id}/layer.tar`, size, mtime, mode: 0o644 }, (err) => (err ? reject(err) : resolve()));
        pipeline(createReadStream(layer.file), sink).catch(reject);
      });
    }
    await add(`${image.configHex}.json`, image.configBytes);
    const manifest: ArchiveEntry[] = [{ Config: `${image.configHex}.json`, RepoTags: image.repoTags, Layers: ids.map((id) => `${id}/layer.tar`) }];
    await add("manifest.json", Buffer.from(JSON.stringify(manifest)));
    const repositories: Record<string, Record<string, string>> = {};
    for (const t of image.repoTags) {
      const colon = t.lastIndexOf(":");
      (repositories[t.slice(0, colon)] ??= {})[t.slice(colon + 1)] = ids.at(-1) ?? "";
    }
    await add("repositories", Buffer.from(JSON.stringify(repositories)));
  };
  write().then(
    () => pack.finalize(),
    (err: unknown) => pack.destroy(err as Error),
  );
  return Readable.from(pack as AsyncIterable<Buffer>, { objectMode: false });
}
