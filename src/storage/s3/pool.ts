/**
 * The part buffers every writer of one driver shares: at most `capacity` buffers of `partSize`
 * exist at once, handed out first come, first served. A writer holds one while it fills and one
 * per part it is uploading, so memory stays within `capacity × partSize` however many uploads run;
 * an upload that finds none free waits (its request's body is held back) until a part upload
 * somewhere ends or a writer closes.
 *
 * No cycle can form: a writer waiting for a buffer holds none that is filling, only buffers whose
 * uploads are under way, and every upload ends. Buffers come back to a free list and are reused;
 * once none has been lent for `idleMs`, the free list is dropped so an idle server gives its memory
 * back.
 */
export class PartPool {
  private lent = 0;
  private readonly free: Buffer[] = [];
  private readonly waiting: Array<(buffer: Buffer) => void> = [];
  private idle: NodeJS.Timeout | undefined;

  constructor(
    readonly partSize: number,
    readonly capacity: number,
    private readonly idleMs = 10_000,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`a part pool needs at least one buffer, not ${capacity}`);
  }

  /** Buffers lent out now. */
  get inUse(): number {
    return this.lent;
  }

  acquire(): Promise<Buffer> {
    if (this.idle) {
      clearTimeout(this.idle);
      this.idle = undefined;
    }
    if (this.lent < this.capacity) {
      this.lent++;
      return Promise.resolve(this.free.pop() ?? Buffer.allocUnsafe(this.partSize));
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Gives a buffer back: to the first writer waiting, else to the free list. */
  release(buffer: Buffer): void {
    const next = this.waiting.shift();
    if (next) {
      next(buffer);
      return;
    }
    this.lent--;
    this.free.push(buffer);
    if (this.lent === 0 && this.idle === undefined) {
      this.idle = setTimeout(() => {
        this.idle = undefined;
        if (this.lent === 0) this.free.length = 0;
      }, this.idleMs);
      this.idle.unref();
    }
  }
}
