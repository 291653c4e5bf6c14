import { ImageError } from "./types.js";

export type LocalFormat = "oci-layout" | "docker-archive";

/** An image on disk: an OCI layout directory or a `docker save` tarball, and the name inside it. */
export interface LocalRef {
  format: LocalFormat;
  path: string;
  /** The layout's ref.name (a tag), or the archive's RepoTag (`repo:tag`); undefined: the only image. */
  name?: string;
}

export const localFormats: readonly LocalFormat[] = ["oci-layout", "docker-archive"];

/**
 * Parses skopeo-style local names: `oci:DIR[:tag]`, `oci-layout:DIR[:tag]`, `docker-archive:FILE[:repo:tag]`.
 * A bare path takes `format` when given, else a `.tar` file is an archive and anything else a layout.
 */
export function parseLocalRef(text: string, format?: LocalFormat): LocalRef {
  const prefixes: [string, LocalFormat][] = [["oci:", "oci-layout"], ["oci-layout:", "oci-layout"], ["docker-archive:", "docker-archive"]];
  for (const [prefix, f] of prefixes) {
    if (!text.startsWith(prefix)) continue;
    if (format !== undefined && format !== f) throw new ImageError(`${text} is ${f}, but --format says ${format}`);
    const rest = text.slice(prefix.length);
    const colon = rest.indexOf(":");
    const path = colon < 0 ? rest : rest.slice(0, colon);
    const name = colon < 0 ? undefined : rest.slice(colon + 1);
    if (path === "") throw new ImageError(`${text}: no path`);
    return { format: f, path, ...(name ? { name } : {}) };
  }
  return { format: format ?? (/\.tar$/i.test(text) ? "docker-archive" : "oci-layout"), path: text };
}

export function formatLocalRef(ref: LocalRef): string {
  return `${ref.format === "oci-layout" ? "oci" : "docker-archive"}:${ref.path}${ref.name ? `:${ref.name}` : ""}`;
}
