import { createHash, hash, type Hash } from "node:crypto";

/** Digest algorithms lading can compute and verify, with their hex lengths. */
export const algorithms = { sha256: 64, sha512: 128 } as const;
export type Algorithm = keyof typeof algorithms;

/** A parsed, validated `algorithm:hex` digest. */
export interface Digest {
  readonly algorithm: Algorithm;
  readonly hex: string;
  readonly value: string;
}

// image-spec descriptor.md: algorithm-component grammar, then the registered encodings.
const grammar = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export function isAlgorithm(name: string): name is Algorithm {
  return Object.hasOwn(algorithms, name);
}

/** Parses a digest string; returns undefined for anything malformed or of an unsupported algorithm. */
export function parseDigest(value: string): Digest | undefined {
  if (!grammar.test(value)) return undefined;
  const colon = value.indexOf(":");
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  if (!isAlgorithm(algorithm)) return undefined;
  if (hex.length !== algorithms[algorithm] || !/^[a-f0-9]+$/.test(hex)) return undefined;
  return { algorithm, hex, value };
}

/** True when the string has the general digest shape, whatever its algorithm. */
export function looksLikeDigest(value: string): boolean {
  return grammar.test(value);
}

/** The digest of bytes in hand, in one call: no Hash object left to the garbage collector (see the server's heap-collector.ts). */
export function digestOf(data: Uint8Array | string, algorithm: Algorithm = "sha256"): string {
  return `${algorithm}:${hash(algorithm, data, "hex")}`;
}

export function newHash(algorithm: Algorithm): Hash {
  return createHash(algorithm);
}
