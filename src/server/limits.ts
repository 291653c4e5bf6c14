import { RegistryError } from "../oci/errors.js";

/**
 * What keeps one client from taking the server, and a load from taking a small machine
 * (`lading.limits`): a request rate per client address, a number of uploads at once. Each refusal
 * is TOOMANYREQUESTS (429) with Retry-After, which docker, containerd and skopeo wait on and retry.
 */

/** Token buckets per client: `rate` requests a second on average, up to `burst` at once. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {}

  /** Takes one request from the client's bucket; TOOMANYREQUESTS when it is empty. */
  take(client: string, now = Date.now()): void {
    let bucket = this.buckets.get(client);
    if (bucket === undefined) {
      if (this.buckets.size >= 100_000) this.sweep(now);
      bucket = { tokens: this.burst, at: now };
      this.buckets.set(client, bucket);
    } else {
      bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) * this.rate) / 1000);
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return;
    }
    const seconds = Math.max(1, Math.ceil((1 - bucket.tokens) / this.rate));
    throw new RegistryError("TOOMANYREQUESTS", `more than ${this.rate} requests a second from ${client}; try again in ${seconds} s`, { headers: { "Retry-After": String(seconds) } });
  }

  /** Forgets clients whose buckets have filled up again (they are as good as new). */
  private sweep(now: number): void {
    for (const [client, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) * this.rate) / 1000 >= this.burst) this.buckets.delete(client);
    }
  }
}

/** A number of slots (uploads at once); a request that finds none is refused rather than queued. */
export class Slots {
  private used = 0;

  constructor(
    private readonly size: number,
    private readonly what: string,
  ) {}

  /** Takes a slot; TOOMANYREQUESTS when all are taken. Release it exactly once. */
  take(): void {
    if (this.used >= this.size) {
      throw new RegistryError("TOOMANYREQUESTS", `${this.size} ${this.what} are under way, the most this server takes at once; try again shortly`, { headers: { "Retry-After": "1" } });
    }
    this.used++;
  }

  release(): void {
    this.used--;
  }
}
