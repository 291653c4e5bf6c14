import { Transform, type TransformCallback } from "node:stream";
import { isAlgorithm, newHash } from "../oci/digest.js";
import { ClientError, DigestMismatchError } from "./errors.js";

/**
 * A pass-through that hashes and counts; it fails at the end (before the consumer sees end-of-stream)
 * when the content does not match its descriptor, so nothing unverified is ever taken as complete.
 */
export class VerifyingStream extends Transform {
  private readonly hash;
  private readonly algorithm: string;
  private count = 0;

  constructor(
    private readonly digest: string,
    private readonly size?: number,
  ) {
    super();
    const algorithm = digest.slice(0, digest.indexOf(":"));
    if (!isAlgorithm(algorithm)) throw new ClientError(`cannot verify ${digest}: unsupported digest algorithm`);
    this.algorithm = algorithm;
    this.hash = newHash(algorithm);
  }

  get bytes(): number {
    return this.count;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.count += chunk.length;
    if (this.size !== undefined && this.count > this.size) {
      done(new DigestMismatchError(this.digest, "(more bytes than the descriptor's size)", { expected: this.size, actual: this.count }));
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    const actual = `${this.algorithm}:${this.hash.digest("hex")}`;
    if (actual !== this.digest || (this.size !== undefined && this.count !== this.size)) {
      done(new DigestMismatchError(this.digest, actual, this.size === undefined ? undefined : { expected: this.size, actual: this.count }));
      return;
    }
    done();
  }
}

/** Checks bytes already in memory (manifests, configs) against a digest. */
export function verifyBytes(data: Buffer, digest: string): void {
  const algorithm = digest.slice(0, digest.indexOf(":"));
  if (!isAlgorithm(algorithm)) throw new ClientError(`cannot verify ${digest}: unsupported digest algorithm`);
  const actual = `${algorithm}:${newHash(algorithm).update(data).digest("hex")}`;
  if (actual !== digest) throw new DigestMismatchError(digest, actual);
}
