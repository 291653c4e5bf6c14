/*
 * Where driver paths live in the bucket.
 *
 *   driver path                         S3 key (rootdirectory "/registry/")
 *   /docker/registry/v2/blobs/...       registry/docker/registry/v2/blobs/...
 *   /a/b (committed object)             registry/a/b
 *   /a/b (being written, see progress)  registry/a/b!lading-tail  + a multipart upload for registry/a/b
 *   /a (a directory)                    every key under registry/a/
 *
 * The mapping is registry:2's (`s3Path` in distribution's s3-aws driver: the root without trailing
 * slashes, then the path, without leading slashes), so that registry:2 and lading serve the same
 * bucket. A side key ends in a suffix starting with `!`, a character no driver path holds: it never
 * names an object of its own, sorts right after its object's key among the keys sharing that
 * prefix, and registry:2 ignores it (it only ever appears inside an upload's directory).
 */

/** The side object of an object being written (see progress.ts). */
export const TAIL_SUFFIX = "!lading-tail";

const namePattern = /^[A-Za-z0-9._-]+$/;

export class KeyMap {
  /** The key prefix of the driver's root directory: "" or "<root>/". */
  readonly root: string;

  constructor(private readonly rootdirectory: string) {
    this.root = this.key("/");
  }

  /** The key of a driver path (registry:2's s3Path). */
  key(path: string): string {
    return (this.rootdirectory.replace(/\/+$/, "") + path).replace(/^\/+/, "");
  }

  /** The prefix of every key beneath a directory. */
  dirPrefix(path: string): string {
    return path === "/" ? this.root : `${this.key(path)}/`;
  }

  tailKey(key: string): string {
    return key + TAIL_SUFFIX;
  }

  /** The driver path of a key, its side object's key mapped to the object's; undefined outside the root. */
  pathOf(key: string): string | undefined {
    if (!key.startsWith(this.root)) return undefined;
    const rest = key.slice(this.root.length);
    return `/${rest.endsWith(TAIL_SUFFIX) ? rest.slice(0, -TAIL_SUFFIX.length) : rest}`;
  }
}

/**
 * The child name a listing entry shows (the part of a key after its directory's prefix, without
 * the delimiter): an object, a directory, or an object being written under its side object. Keys
 * no driver path can name (written by other tools) are skipped.
 */
export function childName(rest: string): string | undefined {
  const name = rest.endsWith(TAIL_SUFFIX) ? rest.slice(0, -TAIL_SUFFIX.length) : rest;
  return namePattern.test(name) && name !== "." && name !== ".." ? name : undefined;
}
