import path from "node:path/posix";
import type { TarHeader } from "./layer-reader.js";

export type ConflictKind = "overlap" | "whiteout" | "opaque" | "package-db";

export interface Conflict {
  kind: ConflictKind;
  /** Absolute, as in the image's filesystem and in the text report: `/etc/passwd`. */
  path: string;
  /** Sections involved, in merge order; the last one's version is what the merged image shows. */
  sections: string[];
  message: string;
  /** For overlaps: the headers agree (type, size, mode, link), so the contents are likely the same. */
  identical?: boolean;
}

/**
 * Files package managers rewrite whole: two sections each writing one means the merged image keeps
 * only the last section's copy, and the other's packages vanish from the database.
 */
const wellKnown: { pattern: RegExp; what: string }[] = [
  { pattern: /^var\/lib\/dpkg\/(status|available)$/, what: "the dpkg database" },
  { pattern: /^(var\/lib\/rpm|usr\/lib\/sysimage\/rpm)\//, what: "the rpm database" },
  { pattern: /^var\/lib\/apk\/db\/installed$/, what: "the apk database" },
  { pattern: /^etc\/ld\.so\.cache$/, what: "the dynamic linker cache (run ldconfig in the merged image)" },
  { pattern: /^(etc\/alternatives|var\/lib\/dpkg\/alternatives)\//, what: "the alternatives system" },
  { pattern: /^etc\/(passwd|group|shadow|gshadow)$/, what: "the user database" },
];

interface Entry {
  type: string;
  size: number;
  mode: number;
  linkname: string | undefined;
}

/** What one section leaves on top of the base once its own layers are applied in order. */
interface SectionState {
  label: string;
  written: Map<string, Entry>;
  dirs: Set<string>;
  whiteouts: Set<string>;
  opaque: Set<string>;
}

const under = (p: string, dir: string) => dir === "" || p.startsWith(`${dir}/`);

/**
 * Collects sections' layers (headers only) and reports how they would step on each other when stacked
 * in order. Whiteouts within a section apply to that section's earlier layers, as the runtime would.
 */
export class ConflictAnalyzer {
  private readonly sections: SectionState[] = [];

  section(label: string): { layer(headers: Iterable<TarHeader>): void } {
    const state: SectionState = { label, written: new Map(), dirs: new Set(), whiteouts: new Set(), opaque: new Set() };
    this.sections.push(state);
    return { layer: (headers) => applyLayer(state, headers) };
  }

  conflicts(): Conflict[] {
    const out: Conflict[] = [];
    const writers = new Map<string, { label: string; entry: Entry }[]>();
    for (const s of this.sections) {
      for (const [p, entry] of s.written) writers.set(p, [...(writers.get(p) ?? []), { label: s.label, entry }]);
      for (const d of s.dirs) {
        const clash = writers.get(d)?.filter((w) => w.label !== s.label);
        if (clash?.length) out.push({ kind: "overlap", path: `/${d}`, sections: [...clash.map((c) => c.label), s.label], message: `${s.label} makes /${d} a directory where ${clash.map((c) => c.label).join(", ")} wrote a ${clash[0]!.entry.type}` });
      }
    }
    for (const [p, list] of writers) {
      if (list.length < 2) continue;
      const labels = list.map((w) => w.label);
      const known = wellKnown.find((k) => k.pattern.test(p));
      const last = labels.at(-1)!;
      if (known) {
        out.push({ kind: "package-db", path: `/${p}`, sections: labels, message: `${labels.join(" and ")} each change /${p} (${known.what}); the merged image keeps only ${last}'s copy, so the other changes are lost` });
        continue;
      }
      const first = list[0]!.entry;
      const identical = list.every((w) => w.entry.type === first.type && w.entry.size === first.size && w.entry.mode === first.mode && w.entry.linkname === first.linkname);
      out.push({ kind: "overlap", path: `/${p}`, sections: labels, identical, message: `/${p} is written by ${labels.join(" and ")}${identical ? " (same size and mode)" : ""}; ${last}'s version wins` });
    }
    this.sections.forEach((later, j) => {
      for (const earlier of this.sections.slice(0, j)) {
        for (const w of later.whiteouts) {
          const hidden = [...earlier.written.keys()].filter((p) => p === w || under(p, w));
          if (hidden.length > 0) out.push({ kind: "whiteout", path: `/${w}`, sections: [earlier.label, later.label], message: `${later.label} deletes /${w}, hiding ${hidden.length} path(s) ${earlier.label} wrote (e.g. /${hidden[0]})` });
        }
        for (const d of later.opaque) {
          const hidden = [...earlier.written.keys()].filter((p) => under(p, d));
          if (hidden.length > 0) out.push({ kind: "opaque", path: `/${d}`, sections: [earlier.label, later.label], message: `${later.label} makes /${d} opaque, hiding ${hidden.length} path(s) ${earlier.label} wrote (e.g. /${hidden[0]})` });
        }
      }
    });
    return out.sort((a, b) => a.path.localeCompare(b.path) || a.kind.localeCompare(b.kind));
  }
}

function applyLayer(state: SectionState, headers: Iterable<TarHeader>): void {
  const writes: TarHeader[] = [];
  for (const h of headers) {
    const base = path.basename(h.path);
    const dir = path.dirname(h.path) === "." ? "" : path.dirname(h.path);
    if (base === ".wh..wh..opq") {
      for (const p of [...state.written.keys()]) if (under(p, dir)) state.written.delete(p);
      state.opaque.add(dir);
    } else if (base.startsWith(".wh.")) {
      const target = dir === "" ? base.slice(4) : `${dir}/${base.slice(4)}`;
      for (const p of [...state.written.keys()]) if (p === target || under(p, target)) state.written.delete(p);
      state.dirs.delete(target);
      state.whiteouts.add(target);
    } else {
      writes.push(h);
    }
  }
  // Whiteouts hide only lower layers: this layer's own files are added after they are applied.
  for (const h of writes) {
    if (h.path === "") continue;
    if (h.type === "directory") {
      state.dirs.add(h.path);
      state.written.delete(h.path);
    } else {
      state.written.set(h.path, { type: h.type, size: h.size, mode: h.mode, linkname: h.linkname });
      state.dirs.delete(h.path);
    }
  }
}
