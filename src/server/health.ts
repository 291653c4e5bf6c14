import { isStorageFull, type StorageDriver } from "../storage/driver.js";

/**
 * `/healthz`: 200 while the store can be read and written, 503 with the reason otherwise. A probe
 * writes one small object (`/.lading-health`, beside the layout: registry:2 never looks there)
 * and lists the root; its answer is reused for `intervalMs`, and concurrent checks share one
 * probe, so a load balancer polling every second costs the store little. The store is unhealthy
 * once `threshold` probes in a row have failed (registry:2's `health.storagedriver` sets both). A
 * read-only registry is not probed for writes.
 */
export class Health {
  private last: { at: number; answer: Promise<HealthAnswer> } | undefined;
  private failures = 0;

  constructor(
    private readonly driver: StorageDriver,
    private readonly options: { readOnly: boolean; intervalMs: number; threshold: number; timeoutMs?: number },
  ) {}

  check(now = Date.now()): Promise<HealthAnswer> {
    if (this.last === undefined || now - this.last.at >= this.options.intervalMs) {
      this.last = { at: now, answer: this.probe().then((answer) => this.count(answer)) };
    }
    return this.last.answer;
  }

  /** A failed probe counts; the answer is unhealthy from the `threshold`th in a row. */
  private count(answer: HealthAnswer): HealthAnswer {
    if (answer.healthy) {
      this.failures = 0;
      return answer;
    }
    this.failures++;
    return this.failures >= this.options.threshold ? answer : { healthy: true, body: { status: "ok" } };
  }

  private async probe(): Promise<HealthAnswer> {
    const probe = async (): Promise<HealthAnswer> => {
      if (!this.options.readOnly) {
        try {
          await this.driver.putContent("/.lading-health", Buffer.from(new Date().toISOString()));
        } catch (err) {
          const what = isStorageFull(err) ? "storage is full" : "storage cannot be written";
          return { healthy: false, body: { status: "unavailable", error: `${what}: ${(err as Error).message}` } };
        }
      }
      try {
        await this.driver.list("/");
      } catch (err) {
        return { healthy: false, body: { status: "unavailable", error: `storage cannot be read: ${(err as Error).message}` } };
      }
      return { healthy: true, body: this.options.readOnly ? { status: "ok", readonly: true } : { status: "ok" } };
    };
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<HealthAnswer>((resolve) => {
      timer = setTimeout(() => resolve({ healthy: false, body: { status: "unavailable", error: `storage did not answer within ${timeoutMs / 1000} s` } }), timeoutMs);
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
