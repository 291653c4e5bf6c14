import path from "node:path/posix";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { entryPath, layerEntries, LayerReadError, normalizePath, type EntryHeader as Header, type LayerEntry as Entry } from "./layer-reader.js";

/** Opens layer `i` (compressed or not) afresh: the filesystem is read in two passes. */
export type LayerOpener = (index: number) => Readable | Promise<Readable>;

/** The entry that provides a path in the final filesystem: layer index and position within that layer. */
interface Survivor {
  layer: number;
  ordinal: number;
}

export interface FlattenStats {
  layers: number;
  /** Entries in the flattened tar. */
  entries: number;
  /** Entries of lower layers hidden by whiteouts, opaque directories or later versions. */
  hidden: number;
}

const under = (p: string, dir: string) => dir === "" || p.startsWith(`${dir}/`);

function dropUnder(state: Map<string, Survivor>, target: string, keepSelf: boolean): void {
  for (const p of state.keys()) if ((!keepSelf && p === target) || (p !== target && under(p, target))) state.delete(p);
}

/** How a layer is named in errors: the image, the layer's index and its digest. */
export type LayerNamer = (index: number) => string;

async function* entries(open: LayerOpener, i: number, name: LayerNamer): AsyncGenerator<Entry> {
  try {
    yield* layerEntries(await open(i));
  } catch (err) {
    if (err instanceof LayerReadError) throw new LayerReadError(`${name(i)}: ${err.message}`, { cause: err });
    throw err;
  }
}

/**
 * Pass one: headers only. Applies each layer's whiteouts (`.wh.NAME`, `.wh..wh..opq`) to the layers
 * below it, then its own entries, the way overlayfs stacks them; a non-directory replacing a
 * directory hides everything under it. Also finds hard links whose target a later layer removed or
 * replaced: those are written as the file itself (see `plan`).
 */
async function survey(open: LayerOpener, count: number, name: LayerNamer): Promise<{ state: Map<string, Survivor>; links: Map<number, Map<string, string>>; seen: number }> {
  const state = new Map<string, Survivor>();
  const hardlinks: { layer: number; path: string; target: string; targetOrdinal: number | undefined }[] = [];
  let seen = 0;
  for (let layer = 0; layer < count; layer++) {
    const writes: { path: string; ordinal: number; directory: boolean }[] = [];
    const lastOrdinal = new Map<string, number>();
    let ordinal = 0;
    for await (const entry of entries(open, layer, name)) {
      const h = entry.header as Header;
      const p = entryPath(h);
      const base = path.basename(p);
      const dir = path.dirname(p) === "." ? "" : path.dirname(p);
      if (base === ".wh..wh..opq") dropUnder(state, dir, true);
      else if (base.startsWith(".wh.")) dropUnder(state, dir === "" ? base.slice(4) : `${dir}/${base.slice(4)}`, false);
      else if (p !== "") {
        writes.push({ path: p, ordinal, directory: h.type === "directory" });
        if (h.type === "link" && h.linkname) {
          const target = normalizePath(h.linkname);
          hardlinks.push({ layer, path: p, target, targetOrdinal: lastOrdinal.get(target) });
        }
        lastOrdinal.set(p, ordinal);
        seen++;
      }
      ordinal++;
      entry.resume();
    }
    // Whiteouts hide lower layers only: this layer's own entries go on after they are applied.
    for (const w of writes) {
      if (!w.directory && state.has(w.path)) dropUnder(state, w.path, true);
      state.set(w.path, { layer, ordinal: w.ordinal });
    }
  }
  const links = new Map<number, Map<string, string>>();
  for (const l of hardlinks) {
    const survivor = state.get(l.target);
    const linkSurvives = state.get(l.path)?.layer === l.layer;
    const intact = l.targetOrdinal === undefined || (survivor?.layer === l.layer && survivor.ordinal === l.targetOrdinal);
    if (!linkSurvives || intact) continue;
    const orphans = links.get(l.layer) ?? new Map<string, string>();
    if (!orphans.has(l.target)) orphans.set(l.target, l.path);
    links.set(l.layer, orphans);
  }
  return { state, links, seen };
}

/**
 * The image's filesystem as one tar, whiteouts applied and no whiteout files left: what a
 * container would see. Entries come in layer order; each path once, in its final version.
 */
export function flattenLayers(open: LayerOpener, count: number, onDone?: (stats: FlattenStats) => void, name: LayerNamer = (i) => `layer ${i}`): Readable {
  const pack = tar.pack();
  const run = async () => {
    const { state, links, seen } = await survey(open, count, name);
    let written = 0;
    for (let layer = 0; layer < count; layer++) {
      const orphans = links.get(layer) ?? new Map<string, string>();
      // A hard link's target as written: its own name, or the link that took its content.
      const renamed = new Map<string, string>();
      let ordinal = 0;
      for await (const entry of entries(open, layer, name)) {
        const h = entry.header as Header;
        const p = entryPath(h);
        const s = state.get(p);
        const mine = s?.layer === layer && s.ordinal === ordinal;
        ordinal++;
        let header: Header | undefined;
        if (mine && h.type === "link" && h.linkname) {
          const target = normalizePath(h.linkname);
          const as = renamed.get(target) ?? target;
          if (as !== p) header = { ...h, name: p, linkname: as };
        } else if (mine) header = { ...h, name: p };
        else if (h.type === "file" && orphans.has(p)) {
          // The link survives but its target does not: the first surviving link becomes the file.
          const as = orphans.get(p)!;
          renamed.set(p, as);
          header = { ...h, name: as };
        }
        if (header === undefined) {
          entry.resume();
          continue;
        }
        if (header.type === "directory") header.name = `${header.name}/`;
        if (header.pax) {
          // Names are set above; the packer writes long ones as PAX records itself.
          const { path: _path, linkpath: _linkpath, ...rest } = header.pax;
          // A PAX sparse file is named by its record: it follows the entry's name here.
          if (rest["GNU.sparse.name"] !== undefined) rest["GNU.sparse.name"] = header.name;
          if (Object.keys(rest).length > 0) header.pax = rest;
          else delete header.pax;
        }
        await writeEntry(pack, header, entry);
        written++;
      }
    }
    onDone?.({ layers: count, entries: written, hidden: seen - written });
  };
  run().then(
    () => pack.finalize(),
    (err: unknown) => pack.destroy(err as Error),
  );
  return Readable.from(pack as AsyncIterable<Buffer>, { objectMode: false });
}

async function writeEntry(pack: tar.Pack, header: Header, content: Entry): Promise<void> {
  if (header.type !== "file" && header.type !== "contiguous-file") {
    content.resume();
    await new Promise<void>((resolve, reject) => pack.entry(header, (err) => (err ? reject(err) : resolve())));
    return;
  }
  await new Promise<void>((resolve, reject) => {
    const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    pipeline(content, sink).catch(reject);
  });
}
