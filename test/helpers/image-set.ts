/**
 * A set of images pushed to one registry with skopeo and later verified against another serving
 * the same storage: every reference must give the same manifest bytes, and every image the same
 * files when pulled and unpacked.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { assertImageContents } from "./fixtures.js";
import { type ImageIndex, OCI_INDEX, readImage, sha256, tagDescriptor } from "./oci-layout.js";
import type { RunningRegistry } from "./registries.js";
import { headManifest } from "./registry-http.js";
import type { Scratch } from "./scratch.js";
import type { Skopeo } from "./skopeo.js";
import { type ImageSpec, unpack } from "./umoci.js";

export interface PushedImage {
  /** repo:tag */
  ref: string;
  digest: string;
  /** For a single image, what its files must be; for an index, each child's spec by digest. */
  spec?: ImageSpec;
  children?: Map<string, ImageSpec>;
}

export class ImageSet {
  readonly images: PushedImage[] = [];
  private n = 0;

  constructor(
    private readonly skopeo: Skopeo,
    private readonly scratch: Scratch,
    private readonly layout: string,
  ) {}

  /** Pushes `oci:layout:tag` to `registry` as `ref` and records what must come back. */
  async push(registry: RunningRegistry, tag: string, ref: string, spec: ImageSpec, extra: readonly string[] = []): Promise<PushedImage> {
    const digestFile = this.scratch.path(`image-set-digest-${this.n++}`);
    await this.skopeo.copy(`oci:${this.layout}:${tag}`, `docker://${registry.host}/${ref}`, ["--digestfile", digestFile, ...extra]);
    const pushed: PushedImage = { ref, digest: (await readFile(digestFile, "utf8")).trim(), spec };
    this.images.push(pushed);
    return pushed;
  }

  /**
   * Pushes an index tag of the layout with --all; `children` maps each child digest to its spec.
   * With `--format v2s2` skopeo writes a Docker manifest list whose children have new digests:
   * they are read from what the registry serves.
   */
  async pushIndex(registry: RunningRegistry, tag: string, ref: string, children: Map<string, ImageSpec>, extra: readonly string[] = []): Promise<PushedImage> {
    const digestFile = this.scratch.path(`image-set-digest-${this.n++}`);
    await this.skopeo.copy(`oci:${this.layout}:${tag}`, `docker://${registry.host}/${ref}`, ["--all", "--digestfile", digestFile, ...extra]);
    const served = JSON.parse((await this.skopeo.rawManifest(`docker://${registry.host}/${ref}`)).toString("utf8")) as ImageIndex;
    const byArch = new Map([...children.values()].map((spec) => [spec.config?.architecture, spec]));
    const servedChildren = new Map<string, ImageSpec>();
    for (const m of served.manifests) {
      const spec = byArch.get(m.platform?.architecture);
      if (spec === undefined) throw new Error(`${ref}: unexpected child ${JSON.stringify(m)}`);
      servedChildren.set(m.digest, spec);
    }
    const pushed: PushedImage = { ref, digest: (await readFile(digestFile, "utf8")).trim(), children: servedChildren };
    this.images.push(pushed);
    return pushed;
  }

  /** Forgets an image (deleted on purpose): `verify` then checks it is gone instead. */
  forget(ref: string): PushedImage {
    const i = this.images.findIndex((p) => p.ref === ref);
    const [gone] = this.images.splice(i, 1);
    if (i < 0 || gone === undefined) throw new Error(`no pushed image ${ref}`);
    return gone;
  }

  /** Checks every recorded image against `registry`: bytes by tag and digest, then contents. */
  async verify(registry: RunningRegistry): Promise<void> {
    for (const image of this.images) {
      const [repo, tag] = splitRef(image.ref);
      const byTag = await this.skopeo.rawManifest(`docker://${registry.host}/${image.ref}`);
      assert.equal(sha256(byTag), image.digest, `${registry.kind}: ${image.ref} serves other manifest bytes`);
      const byDigest = await this.skopeo.rawManifest(`docker://${registry.host}/${repo}@${image.digest}`);
      assert.ok(byDigest.equals(byTag), `${registry.kind}: ${repo}@${image.digest} differs from ${image.ref}`);
      const head = await headManifest(registry, repo, tag);
      assert.deepEqual([head.status, head.digest, head.length], [200, image.digest, byTag.length], `${registry.kind}: HEAD ${image.ref}`);

      if (image.spec !== undefined) await this.pullAndCompare(registry, image.ref, image.spec);
      if (image.children !== undefined) {
        const layout = this.scratch.path(`image-set-pull-${this.n++}`);
        await this.skopeo.copy(`docker://${registry.host}/${image.ref}`, `oci:${layout}:pulled`, ["--all"]);
        // An OCI index lands unchanged; a Docker manifest list is converted for the oci: layout.
        const isOci = (JSON.parse(byTag.toString("utf8")) as ImageIndex).mediaType === OCI_INDEX;
        if (isOci) assert.equal((await tagDescriptor(layout, "pulled")).digest, image.digest);
        for (const [child, spec] of image.children) await this.pullAndCompare(registry, `${repo}@${child}`, spec, isOci ? child : undefined);
      }
    }
  }

  private async pullAndCompare(registry: RunningRegistry, ref: string, spec: ImageSpec, digest?: string): Promise<void> {
    const layout = this.scratch.path(`image-set-pull-${this.n++}`);
    await this.skopeo.copy(`docker://${registry.host}/${ref}`, `oci:${layout}:pulled`);
    if (digest !== undefined) assert.equal((await readImage(layout, "pulled")).manifestDigest, digest);
    await assertImageContents(await unpack(layout, "pulled", this.scratch.path(`image-set-bundle-${this.n++}`)), spec);
  }

  /** The tags recorded for each repository, sorted. */
  tagsByRepo(): Map<string, string[]> {
    const byRepo = new Map<string, string[]>();
    for (const image of this.images) {
      const [repo, tag] = splitRef(image.ref);
      byRepo.set(repo, [...(byRepo.get(repo) ?? []), tag].sort());
    }
    return byRepo;
  }
}

export function splitRef(ref: string): [string, string] {
  const colon = ref.lastIndexOf(":");
  if (colon < 0) throw new Error(`not repo:tag: ${ref}`);
  return [ref.slice(0, colon), ref.slice(colon + 1)];
}
