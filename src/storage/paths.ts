import type { Digest } from "../oci/digest.js";

/*
 * The storage layout: the reference registry's (distribution/registry:2), so that one store can be
 * served by either. Everything lives under <root>/docker/registry/v2:
 *
 *   blobs/
 *     <alg>/<first two hex>/<hex>/data                          the bytes of every blob and manifest
 *   repositories/
 *     <name>/                                                   name may contain slashes
 *       _uploads/<id>/data                                      bytes of an upload in progress
 *       _uploads/<id>/startedat                                 RFC 3339 start time
 *       _uploads/<id>/lading-hashstates/<alg>/<offset>          lading's saved hash state (shared stores)
 *       _layers/<alg>/<hex>/link                                "<alg>:<hex>": blob is in the repository
 *       _manifests/revisions/<alg>/<hex>/link                   manifest is in the repository
 *       _manifests/tags/<tag>/current/link                      the digest the tag points to
 *       _manifests/tags/<tag>/index/<alg>/<hex>/link            every digest the tag has pointed to
 *       _referrers/<alg>/<subject hex>/<alg>/<hex>/link         lading's own: manifests whose subject
 *                                                               is <subject>; registry:2 ignores it
 *
 * A repository exists (for the catalog) when its `_manifests` directory does. Link files hold the
 * digest string and nothing else; registry:2 writes them without a trailing newline and so do we.
 */
export const v2Root = "/docker/registry/v2";
export const repositoriesRoot = `${v2Root}/repositories`;
export const blobsRoot = `${v2Root}/blobs`;

export function blobDataPath(d: Digest): string {
  return `${blobsRoot}/${d.algorithm}/${d.hex.slice(0, 2)}/${d.hex}/data`;
}

export function blobDirPath(d: Digest): string {
  return `${blobsRoot}/${d.algorithm}/${d.hex.slice(0, 2)}/${d.hex}`;
}

export function repositoryPath(name: string): string {
  return `${repositoriesRoot}/${name}`;
}

export function layerLinkPath(name: string, d: Digest): string {
  return `${repositoryPath(name)}/_layers/${d.algorithm}/${d.hex}/link`;
}

export function layerLinkDirPath(name: string, d: Digest): string {
  return `${repositoryPath(name)}/_layers/${d.algorithm}/${d.hex}`;
}

export function manifestsPath(name: string): string {
  return `${repositoryPath(name)}/_manifests`;
}

export function revisionLinkPath(name: string, d: Digest): string {
  return `${manifestsPath(name)}/revisions/${d.algorithm}/${d.hex}/link`;
}

export function revisionDirPath(name: string, d: Digest): string {
  return `${manifestsPath(name)}/revisions/${d.algorithm}/${d.hex}`;
}

export function revisionsAlgorithmPath(name: string, algorithm: string): string {
  return `${manifestsPath(name)}/revisions/${algorithm}`;
}

export function tagsPath(name: string): string {
  return `${manifestsPath(name)}/tags`;
}

export function tagPath(name: string, tag: string): string {
  return `${tagsPath(name)}/${tag}`;
}

export function tagCurrentLinkPath(name: string, tag: string): string {
  return `${tagPath(name, tag)}/current/link`;
}

export function tagIndexLinkPath(name: string, tag: string, d: Digest): string {
  return `${tagPath(name, tag)}/index/${d.algorithm}/${d.hex}/link`;
}

export function uploadPath(name: string, id: string): string {
  return `${repositoryPath(name)}/_uploads/${id}`;
}

export function uploadDataPath(name: string, id: string): string {
  return `${uploadPath(name, id)}/data`;
}

/** lading's own saved hash state of an upload at `offset` bytes (registry:2's `hashstates/` holds Go's format). */
export function uploadHashStatePath(name: string, id: string, algorithm: string, offset: number): string {
  return `${uploadPath(name, id)}/lading-hashstates/${algorithm}/${offset}`;
}

export function uploadStartedAtPath(name: string, id: string): string {
  return `${uploadPath(name, id)}/startedat`;
}

export function uploadsRootPath(name: string): string {
  return `${repositoryPath(name)}/_uploads`;
}

export function referrersPath(name: string, subject: Digest): string {
  return `${repositoryPath(name)}/_referrers/${subject.algorithm}/${subject.hex}`;
}

export function referrerLinkPath(name: string, subject: Digest, d: Digest): string {
  return `${referrersPath(name, subject)}/${d.algorithm}/${d.hex}/link`;
}
