import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { VerifyingStream, verifyBytes } from "../client/verify.js";
import { parseDigest } from "../oci/digest.js";
import { mediaTypes } from "../oci/mediatypes.js";
import { ImageError, parseIndex, type Descriptor, type ImageIndex } from "./types.js";

/** The annotation an OCI layout's index.json uses to name an image (its "tag"). */
export const refNameAnnotation = "org.opencontainers.image.ref.name";

/**
 * An OCI image layout directory (image-spec image-layout.md):
 *
 *   DIR/oci-layout            {"imageLayoutVersion":"1.0.0"}
 *   DIR/index.json            an image index; entries named by the ref.name annotation
 *   DIR/blobs/<alg>/<hex>     every manifest, config and layer, content-addressed
 *
 * Blobs are written to a temporary name, verified against their digest, then renamed into place.
 */
export class OciLayout {
  private constructor(readonly dir: string) {}

  /** Opens an existing layout. */
  static async open(dir: string): Promise<OciLayout> {
    const marker = await readFile(path.join(dir, "oci-layout"), "utf8").catch(() => undefined);
    if (marker === undefined) throw new ImageError(`${dir} is not an OCI image layout (no oci-layout file)`);
    return new OciLayout(dir);
  }

  /** Opens a layout, creating an empty one when the directory has none. */
  static async create(dir: string): Promise<OciLayout> {
    await mkdir(path.join(dir, "blobs", "sha256"), { recursive: true });
    const marker = path.join(dir, "oci-layout");
    if (!(await exists(marker))) await writeFile(marker, `${JSON.stringify({ imageLayoutVersion: "1.0.0" })}\n`);
    if (!(await exists(path.join(dir, "index.json")))) await writeIndex(dir, { schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: [] });
    return new OciLayout(dir);
  }

  blobPath(digest: string): string {
    const d = parseDigest(digest);
    if (!d) throw new ImageError(`invalid or unsupported digest ${digest}`);
    return path.join(this.dir, "blobs", d.algorithm, d.hex);
  }

  async hasBlob(digest: string, size: number): Promise<boolean> {
    const st = await stat(this.blobPath(digest)).catch(() => undefined);
    return st !== undefined && st.size === size;
  }

  /** Writes a blob from a stream, refusing content that does not match the digest and size. */
  async writeBlob(digest: string, size: number, content: Readable): Promise<void> {
    const file = this.blobPath(digest);
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.partial`;
    try {
      await pipeline(content, new VerifyingStream(digest, size), createWriteStream(tmp));
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async readBlob(digest: string): Promise<Buffer> {
    const bytes = await readFile(this.blobPath(digest)).catch((err: NodeJS.ErrnoException) => {
      throw new ImageError(`${this.dir}: blob ${digest} is missing (${err.code ?? err.message})`);
    });
    verifyBytes(bytes, digest);
    return bytes;
  }

  openBlob(digest: string, start = 0, end?: number): Readable {
    return createReadStream(this.blobPath(digest), { start, ...(end === undefined ? {} : { end: end - 1 }) });
  }

  async index(): Promise<ImageIndex> {
    return parseIndex(await readFile(path.join(this.dir, "index.json")));
  }

  /** The entry named `tag`; without a tag, the only entry. */
  async resolve(tag: string | undefined): Promise<Descriptor> {
    const entries = (await this.index()).manifests;
    if (tag === undefined) {
      if (entries.length === 1) return entries[0]!;
      const names = entries.map((e) => e.annotations?.[refNameAnnotation]).filter((n) => n !== undefined);
      throw new ImageError(`${this.dir} holds ${entries.length} images: name one (${names.join(", ") || "none are named"})`);
    }
    const found = entries.filter((e) => e.annotations?.[refNameAnnotation] === tag);
    if (found.length === 0) throw new ImageError(`${this.dir} has no image named ${JSON.stringify(tag)}`);
    return found.at(-1)!;
  }

  /** Names `descriptor` as `tag` in index.json, replacing what had that name. */
  async setTag(tag: string, descriptor: Descriptor): Promise<void> {
    const index = await this.index();
    const { annotations, ...rest } = descriptor;
    index.manifests = index.manifests.filter((e) => e.annotations?.[refNameAnnotation] !== tag);
    index.manifests.push({ ...rest, annotations: { ...annotations, [refNameAnnotation]: tag } });
    await writeIndex(this.dir, index);
  }
}

async function writeIndex(dir: string, index: ImageIndex): Promise<void> {
  const tmp = path.join(dir, `index.json.${process.pid}.tmp`);
  await writeFile(tmp, JSON.stringify(index));
  await rename(tmp, path.join(dir, "index.json"));
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
