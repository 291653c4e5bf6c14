import { createSHA256, createSHA512, type IHasher } from "hash-wasm";
import { newHash, type Algorithm } from "../oci/digest.js";

/** The hash of an upload's bytes so far. */
export interface UploadHash {
  readonly algorithm: Algorithm;
  update(chunk: Buffer): void;
  hex(): string;
  /** The state to keep with the upload, for another process to go on from; undefined when it cannot be saved. */
  save(): Uint8Array | undefined;
}

/**
 * Node's own hash: the fastest (SHA-NI), but its state cannot leave the process. For stores one
 * process owns, where another process never takes over an upload.
 */
export function nativeHash(algorithm: Algorithm): UploadHash {
  const hash = newHash(algorithm);
  return { algorithm, update: (chunk) => hash.update(chunk), hex: () => hash.digest("hex"), save: () => undefined };
}

/**
 * A hash whose state can be saved and restored (hash-wasm), for shared stores: the replica that
 * takes the next chunk, or the final PUT, goes on from the saved state instead of reading the
 * upload back. About a fifth of the native hash's speed.
 */
export async function resumableHash(algorithm: Algorithm, state?: Uint8Array): Promise<UploadHash> {
  const hasher: IHasher = algorithm === "sha256" ? await createSHA256() : await createSHA512();
  hasher.init();
  if (state !== undefined) hasher.load(state);
  return { algorithm, update: (chunk) => void hasher.update(chunk), hex: () => hasher.digest("hex"), save: () => hasher.save() };
}
