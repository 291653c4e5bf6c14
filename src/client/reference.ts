import { parseDigest } from "../oci/digest.js";
import { isValidName, isValidTag } from "../oci/reference.js";

/**
 * An image reference as people type it: `localhost:5000/base:latest`, `ubuntu`, `ghcr.io/o/r@sha256:…`.
 * Normalized the way docker does: a first component with a `.` or `:` (or `localhost`) names the
 * registry, otherwise the registry is docker.io and single names live under `library/`.
 */
export interface Reference {
  /** Registry host[:port] as written (docker.io for the default). */
  readonly registry: string;
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

export const dockerHub = "docker.io";
const dockerHubAliases = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);

export class ReferenceError extends Error {
  override readonly name = "ReferenceError";
  readonly exitCode = 2;
}

export function parseReference(input: string): Reference {
  const text = input.trim();
  if (text === "") throw new ReferenceError("empty image reference");
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!parseDigest(digest)) throw new ReferenceError(`invalid or unsupported digest in reference ${input}`);
  }
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(":");
  if (lastColon > rest.lastIndexOf("/")) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!isValidTag(tag)) throw new ReferenceError(`invalid tag ${JSON.stringify(tag)} in reference ${input}`);
  }
  let registry = dockerHub;
  let repository = rest;
  const slash = rest.indexOf("/");
  const first = slash >= 0 ? rest.slice(0, slash) : "";
  if (slash >= 0 && (first.includes(".") || first.includes(":") || first === "localhost" || first.startsWith("["))) {
    registry = first;
    repository = rest.slice(slash + 1);
  }
  if (dockerHubAliases.has(registry)) {
    registry = dockerHub;
    if (!repository.includes("/")) repository = `library/${repository}`;
  }
  if (!isValidName(repository)) throw new ReferenceError(`invalid repository name ${JSON.stringify(repository)} in reference ${input}`);
  if (tag === undefined && digest === undefined) tag = "latest";
  return { registry, repository, ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }) };
}

/** The tag or digest a manifest request names; the digest wins when both are given. */
export function manifestKey(ref: Reference): string {
  return ref.digest ?? ref.tag ?? "latest";
}

export function formatReference(ref: Reference): string {
  let out = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}

export function withDigest(ref: Reference, digest: string): Reference {
  return { registry: ref.registry, repository: ref.repository, digest };
}

export function withTag(ref: Reference, tag: string): Reference {
  return { registry: ref.registry, repository: ref.repository, tag };
}

/** The host that serves the API for a registry name (Docker Hub's differs from its name). */
export function apiHost(registry: string): string {
  return registry === dockerHub ? "registry-1.docker.io" : registry;
}

/** Registries spoken to over plain HTTP without being asked: loopback only. */
export function isLoopback(registry: string): boolean {
  const host = registry.startsWith("[") ? registry.slice(0, registry.indexOf("]") + 1) : registry.split(":")[0]!;
  return host === "localhost" || host.endsWith(".localhost") || host === "[::1]" || /^127(?:\.\d{1,3}){3}$/.test(host);
}
