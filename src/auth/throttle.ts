import { RegistryError } from "../oci/errors.js";

/**
 * Failed sign-ins counted per user and per address over a sliding window: past the limit, the
 * next attempt is refused before any password is checked (TOOMANYREQUESTS with Retry-After), so
 * that guessing costs the guesser time and the server no bcrypt.
 */
export class Throttle {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly options: { attempts: number; perAddress: number; windowMs: number }) {}

  /** Throws TOOMANYREQUESTS when either key is over its limit. */
  check(user: string | undefined, address: string, now = Date.now()): void {
    const waits = [this.wait(`a:${address}`, this.options.perAddress, now)];
    if (user !== undefined) waits.push(this.wait(`u:${user}`, this.options.attempts, now));
    const wait = Math.max(...waits);
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      throw new RegistryError("TOOMANYREQUESTS", `too many failed sign-ins; try again in ${seconds} s`, { headers: { "Retry-After": String(seconds) } });
    }
  }

  fail(user: string | undefined, address: string, now = Date.now()): void {
    this.record(`a:${address}`, now);
    if (user !== undefined) this.record(`u:${user}`, now);
  }

  /** A success clears the user's count (not the address's: one right password elsewhere says nothing of it). */
  succeed(user: string): void {
    this.failures.delete(`u:${user}`);
  }

  private record(key: string, now: number): void {
    const times = this.recent(key, now);
    times.push(now);
    this.failures.set(key, times);
    if (this.failures.size > 100_000) this.sweep(now);
  }

  private recent(key: string, now: number): number[] {
    const times = this.failures.get(key) ?? [];
    const from = now - this.options.windowMs;
    while (times.length > 0 && times[0]! <= from) times.shift();
    return times;
  }

  /** How long until the key is under its limit again; 0 when it is. */
  private wait(key: string, limit: number, now: number): number {
    const times = this.recent(key, now);
    if (times.length === 0) this.failures.delete(key);
    if (times.length < limit) return 0;
    return times[times.length - limit]! + this.options.windowMs - now;
  }

  private sweep(now: number): void {
    for (const key of [...this.failures.keys()]) if (this.recent(key, now).length === 0) this.failures.delete(key);
  }
}
