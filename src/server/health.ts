import type { StorageDriver } from "../storage/driver.js";

/**
 * `/healthz`: 200 while the store can be read and written, 503 with the reason otherwise. A probe
 * writes one small object (`/.lading-health`, beside the layout: registry:2 never looks there)
 * and lists the root; its answer is reused for a few seconds, and concurrent checks share one
 * probe, so a load balancer polling every second costs the store little. A read-only registry is
 * not probed for writes.
 */
export class Health {
  private last: { at: number; answer: Promise<HealthAnswer> } | undefined;

  constructor(
    private readonly driver: StorageDriver,
    private readonly readOnly: boolean,
    private readonly reuseMs = 2_000,
    private readonly timeoutMs = 10_000,
  ) {}

  check(now = Date.now()): Promise<HealthAnswer> {
    if (this.last === undefined || now - this.last.at >= this.reuseMs) this.last = { at: now, answer: this.probe() };
    return this.last.answer;
  }

  private async probe(): Promise<HealthAnswer> {
    const probe = async (): Promise<HealthAnswer> => {
      if (!this.readOnly) {
        try {
          await this.driver.putContent("/.lading-health", Buffer.from(new Date().toISOString()));
        } catch (err) {
          return { healthy: false, body: { status: "unavailable", error: `storage cannot be written: ${(err as Error).message}` } };
        }
      }
      try {
        await this.driver.list("/");
      } catch (err) {
        return { healthy: false, body: { status: "unavailable", error: `storage cannot be read: ${(err as Error).message}` } };
      }
      return { healthy: true, body: this.readOnly ? { status: "ok", readonly: true } : { status: "ok" } };
    };
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<HealthAnswer>((resolve) => {
      timer = setTimeout(() => resolve({ healthy: false, body: { status: "unavailable", error: `storage did not answer within ${this.timeoutMs / 1000} s` } }), this.timeoutMs);
    });
    try {
      return await Promise.race([probe(), late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

export interface HealthAnswer {
  healthy: boolean;
  body: { status: "ok" | "unavailable"; error?: string; readonly?: true };
}
