/**
 * A tar stream framed as Go's archive/tar frames it (and so docker, containerd, skopeo and umoci),
 * before tar-stream decodes its headers: the archive ends at two zero blocks (what follows is
 * drained, not parsed), at the end of the input on a header's boundary, or inside the padding after
 * an entry's content (Go's tryReadFull takes a short padding for the end); old GNU sparse files,
 * extension blocks included, come out as the regular files of their real size that Go presents,
 * holes as zeros; entry types with no content (links, devices, directories, fifos) carry none, whatever
 * their size field says. A header cut short, content cut short, a bad checksum or an entry type no
 * runtime unpacks is refused in words.
 */
import { ImageError } from "./types.js";

/** A layer that cannot be read: the message says why, in words a user can act on. */
export class LayerReadError extends ImageError {
  override name = "LayerReadError";
}

export const pushAgain = "push the image again from where it was built";

const block = 512;
/** Go's limit on PAX records and GNU long names. */
const maxSpecialFile = 1 << 20;
const metaTypes = new Set(["x", "g", "L", "K"]);
/** The entry types a runtime unpacks (Go's regular-file "\0" and "0" included). */
const entryTypes = new Set(["\0", "0", "1", "2", "3", "4", "5", "6", "7"]);
/** Types whose content Go never reads: their size field is ignored. */
const headerOnlyTypes = new Set(["1", "2", "3", "4", "5", "6"]);

/** Exact byte counts from a stream of chunks. */
class ByteReader {
  private pending: Buffer = Buffer.alloc(0);
  private ended = false;
  constructor(private readonly source: AsyncIterator<Uint8Array>) {}

  private async fill(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.source.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    const chunk = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    return true;
  }

  /** n bytes, or fewer where the input ends. */
  async read(n: number): Promise<Buffer> {
    while (this.pending.length < n && (await this.fill()));
    const out = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(out.length);
    return out;
  }

  /** n bytes in the pieces they arrive in; fewer where the input ends. */
  async *stream(n: number): AsyncGenerator<Buffer> {
    for (let left = n; left > 0; ) {
      if (this.pending.length === 0 && !(await this.fill())) return;
      const part = this.pending.subarray(0, left);
      this.pending = this.pending.subarray(part.length);
      left -= part.length;
      yield part;
    }
  }

  async drain(): Promise<void> {
    this.pending = Buffer.alloc(0);
    while (await this.fill()) this.pending = Buffer.alloc(0);
  }
}

const truncated = () => new LayerReadError(`its tar ends in the middle of an entry (the layer is truncated): ${pushAgain}`);
const padding = (size: number) => (block - (size % block)) % block;
const isZero = (b: Buffer) => b.every((byte) => byte === 0);

/** A number field of a tar header as Go parses it: octal between spaces and NULs, or base-256 when its top bit is set. */
function headerNumber(header: Buffer, offset: number, length: number): number {
  const field = header.subarray(offset, offset + length);
  if ((field[0]! & 0x80) !== 0) {
    if ((field[0]! & 0x40) !== 0) throw new LayerReadError("a tar header holds a negative number");
    return field.subarray(1).reduce((n, byte) => n * 256 + byte, field[0]! & 0x3f);
  }
  const text = field.toString("latin1").replace(/^[ \0]+|[ \0]+$/g, "");
  if (!/^[0-7]*$/.test(text)) throw new LayerReadError("a tar header holds an invalid number");
  return text === "" ? 0 : parseInt(text, 8);
}

function setHeaderNumber(header: Buffer, offset: number, length: number, n: number): void {
  if (n < 8 ** (length - 1)) {
    header.write(`${n.toString(8).padStart(length - 1, "0")}\0`, offset, length, "latin1");
    return;
  }
  header.fill(0, offset, offset + length);
  header[offset] = 0x80;
  for (let i = offset + length - 1, left = n; i > offset && left > 0; i--, left = Math.floor(left / 256)) header[i] = left % 256;
}

/** Go accepts a header whose checksum matches the sum of its bytes read unsigned or signed. */
function checksumMatches(header: Buffer): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < block; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : header[i]!;
    unsigned += byte;
    signed += byte < 128 ? byte : byte - 256;
  }
  const text = header.toString("latin1", 148, 156).replace(/^[ \0]+|[ \0]+$/g, "");
  const stored = /^[0-7]+$/.test(text) ? parseInt(text, 8) : NaN;
  return stored === unsigned || stored === signed;
}

function setChecksum(header: Buffer): void {
  header.fill(0x20, 148, 156);
  const sum = header.reduce((n, byte) => n + byte, 0);
  header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "latin1");
}

/** The `size` record of a PAX header, which overrides the size field of the entry it precedes. */
function paxSize(records: Buffer): number | undefined {
  let size: number | undefined;
  for (let at = 0; at < records.length; ) {
    const space = records.indexOf(0x20, at);
    const length = space < 0 ? NaN : Number(records.toString("latin1", at, space));
    if (!Number.isSafeInteger(length) || length <= space - at || at + length > records.length) throw new LayerReadError("a PAX header holds a malformed record");
    const record = records.toString("utf8", space + 1, at + length - 1);
    if (record.startsWith("size=")) size = Number(record.slice(5));
    at += length;
  }
  if (size !== undefined && !(Number.isSafeInteger(size) && size >= 0)) throw new LayerReadError("a PAX header holds an invalid size");
  return size;
}

interface Segment {
  offset: number;
  length: number;
}

/** The data segments of an old GNU sparse entry: four in its header, more in the extension blocks after it (Go's rule: a map ends at an offset field that starts with NUL). */
async function oldGnuSparseMap(header: Buffer, input: ByteReader): Promise<Segment[]> {
  const segments: Segment[] = [];
  const readEntries = (b: Buffer, at: number, count: number) => {
    for (let i = 0; i < count && b[at + i * 24] !== 0; i++) {
      segments.push({ offset: headerNumber(b, at + i * 24, 12), length: headerNumber(b, at + i * 24 + 12, 12) });
    }
  };
  readEntries(header, 386, 4);
  for (let extended = header[482] !== 0; extended; ) {
    const extension = await input.read(block);
    if (extension.length < block) throw truncated();
    readEntries(extension, 0, 21);
    extended = extension[504] !== 0;
  }
  return segments;
}

/** The content of a sparse file: its data segments in place, zeros between and after them. */
async function* expand(data: AsyncIterable<Buffer>, segments: Segment[], size: number): AsyncGenerator<Buffer> {
  const zeros = function* (n: number): Generator<Buffer> {
    for (let left = n; left > 0; left -= 65536) yield Buffer.alloc(Math.min(left, 65536));
  };
  const source = data[Symbol.asyncIterator]();
  let pending: Buffer = Buffer.alloc(0);
  let position = 0;
  for (const segment of segments) {
    yield* zeros(segment.offset - position);
    for (let left = segment.length; left > 0; ) {
      if (pending.length === 0) {
        const next = await source.next();
        if (next.done) throw truncated();
        pending = next.value;
      }
      const part = pending.subarray(0, left);
      pending = pending.subarray(part.length);
      left -= part.length;
      yield part;
    }
    position = segment.offset + segment.length;
  }
  yield* zeros(size - position);
}

/** Content of exactly `size` bytes, or the layer is truncated. */
async function* exactly(input: ByteReader, size: number): AsyncGenerator<Buffer> {
  let seen = 0;
  for await (const part of input.stream(size)) {
    seen += part.length;
    yield part;
  }
  if (seen < size) throw truncated();
}

/** The tar as Go reads it; see the top of this file. */
export async function* goFraming(tar: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  const input = new ByteReader(tar[Symbol.asyncIterator]());
  let sizeRecord: number | undefined;
  let longName: string | undefined;
  for (;;) {
    let header = await input.read(block);
    if (header.length === 0) break;
    if (header.length < block) throw truncated();
    if (isZero(header)) {
      const next = await input.read(block);
      if (next.length === 0 || isZero(next)) break;
      if (next.length < block) throw truncated();
      throw new LayerReadError("its tar has entries after a block of zeros, which ends an archive");
    }
    if (!checksumMatches(header)) throw new LayerReadError("it is not a tar archive (a header's checksum does not match): check how the layer was made and its media type");
    const type = String.fromCharCode(header[156]!);
    const name = () => longName ?? header.toString("utf8", 0, 100).replace(/\0.*$/s, "");
    const stored = headerNumber(header, 124, 12);
    let size: number;
    let content: AsyncIterable<Buffer> | Iterable<Buffer>;
    if (metaTypes.has(type)) {
      if (stored > maxSpecialFile) throw new LayerReadError("a long-name or PAX header is larger than 1 MiB");
      const records = await input.read(stored);
      if (records.length < stored) throw truncated();
      if (type === "x") sizeRecord = paxSize(records);
      if (type === "L") longName = records.toString("utf8").replace(/\0.*$/s, "");
      size = stored;
      content = stored > 0 ? [records] : [];
    } else if (type === "S") {
      const segments = await oldGnuSparseMap(header, input);
      size = headerNumber(header, 483, 12);
      const ordered = segments.every((seg, i) => i === 0 || seg.offset >= segments[i - 1]!.offset + segments[i - 1]!.length);
      if (segments.reduce((n, seg) => n + seg.length, 0) !== stored || !ordered || segments.some((seg) => seg.offset + seg.length > size)) {
        throw new LayerReadError(`entry ${name()} is an old GNU sparse file whose map does not fit its data`);
      }
      header = Buffer.from(header);
      header[156] = "0".charCodeAt(0);
      setHeaderNumber(header, 124, 12, size);
      setChecksum(header);
      content = expand(exactly(input, stored), segments, size);
      sizeRecord = longName = undefined;
    } else if (entryTypes.has(type)) {
      size = headerOnlyTypes.has(type) ? 0 : (sizeRecord ?? stored);
      sizeRecord = longName = undefined;
      if (size !== stored && headerOnlyTypes.has(type)) {
        header = Buffer.from(header);
        setHeaderNumber(header, 124, 12, 0);
        setChecksum(header);
      }
      content = exactly(input, size);
    } else {
      throw new LayerReadError(`entry ${name()} has a tar entry type (${JSON.stringify(type)}) that no runtime unpacks`);
    }
    yield header;
    yield* content;
    const skip = padding(type === "S" ? stored : size);
    const read = await input.read(skip);
    if (padding(size) > 0) yield Buffer.alloc(padding(size));
    if (read.length < skip) break;
  }
  await input.drain();
}
