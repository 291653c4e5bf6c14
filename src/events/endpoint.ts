import type { Logger } from "pino";
import { eventsMediaType, type QueuedEvent, type RegistryEvent } from "./event.js";
import type { EventQueue } from "./queue.js";

export interface EndpointSettings {
  name: string;
  url: string;
  headers: Record<string, string[]>;
  timeoutMs: number;
  /** Failures in a row before waiting `backoffMs` between attempts (registry:2's breaker). */
  threshold: number;
  backoffMs: number;
  ignoredMediaTypes: readonly string[];
  ignoredActions: readonly string[];
  format: "distribution" | "cloudevents";
}

export interface EndpointState {
  delivered: number;
  failures: number;
  /** Whether the last attempt succeeded (1), failed (0), or none was made yet (1). */
  up: boolean;
}

/** The longest wait between two attempts, however long the receiver has been failing. */
const maxBackoffMs = 5 * 60_000;

const pastTense: Record<RegistryEvent["action"], string> = { push: "pushed", pull: "pulled", mount: "mounted", delete: "deleted" };

/**
 * One receiver: its own queue, sent one event per request in order, each retried until the
 * receiver takes it (a 2xx or 3xx answer). Past `threshold` failures in a row, it waits between
 * attempts: `backoff`, doubling with each further failure up to five minutes, so a receiver that is
 * down for long is not hammered, and one that comes back is found soon enough.
 */
export class Endpoint {
  readonly state: EndpointState = { delivered: 0, failures: 0, up: true };
  private wake: (() => void) | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;
  private inFlight: AbortController | undefined;

  constructor(
    readonly settings: EndpointSettings,
    readonly queue: EventQueue,
    private readonly source: string,
    private readonly log: Logger,
  ) {}

  /** Whether this receiver wants the event (registry:2's ignoredmediatypes and ignore). */
  wants(queued: QueuedEvent): boolean {
    const { ignoredMediaTypes, ignoredActions } = this.settings;
    return !ignoredActions.includes(queued.event.action) && !(queued.event.target.mediaType !== undefined && ignoredMediaTypes.includes(queued.event.target.mediaType));
  }

  /** Queues the events it wants; `lines[i]` is `events[i]` as JSON. */
  enqueue(events: readonly QueuedEvent[], lines: readonly string[]): void {
    const wanted = lines.filter((_, i) => this.wants(events[i]!));
    if (wanted.length === 0) return;
    this.queue.append(wanted);
    this.wake?.();
  }

  start(): void {
    this.running ??= this.loop();
  }

  /** Stops sending (an attempt in flight is abandoned and stays queued) and keeps what is queued. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.inFlight?.abort();
    this.wake?.();
    await this.running;
    this.queue.close();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const next = this.queue.peek();
      if (next === undefined) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      const delivered = await this.send(next).then(
        () => true,
        (err: unknown) => {
          if (!this.stopped) this.log.warn({ endpoint: this.settings.name, err: (err as Error).message, failures: this.state.failures + 1 }, "notification not delivered");
          return false;
        },
      );
      if (this.stopped) break;
      if (delivered) {
        this.queue.ack();
        this.state.delivered++;
        this.state.failures = 0;
        this.state.up = true;
        continue;
      }
      this.state.failures++;
      this.state.up = false;
      await this.pause(this.delayAfter(this.state.failures));
    }
  }

  /** ms before the next attempt after `failures` in a row. */
  private delayAfter(failures: number): number {
    const { threshold, backoffMs } = this.settings;
    if (failures < threshold) return 0;
    return Math.min(maxBackoffMs, backoffMs * 2 ** Math.min(20, failures - threshold));
  }

  private pause(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        if (!this.stopped) return;
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async send(queued: QueuedEvent): Promise<void> {
    const { url, headers, timeoutMs, format } = this.settings;
    const [contentType, body] = format === "cloudevents" ? ["application/cloudevents+json", JSON.stringify(this.cloudEvent(queued))] : [eventsMediaType, JSON.stringify({ events: [queued.event] })];
    const sendHeaders = new Headers();
    for (const [name, values] of Object.entries(headers)) for (const value of values) sendHeaders.append(name, value);
    sendHeaders.set("Content-Type", contentType);
    const controller = new AbortController();
    this.inFlight = controller;
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    try {
      const res = await fetch(url, { method: "POST", headers: sendHeaders, body, redirect: "manual", signal: controller.signal });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status < 200 || res.status >= 400) throw new Error(`the receiver answered ${res.status}`);
    } finally {
      clearTimeout(timer);
      this.inFlight = undefined;
    }
  }

  /** The event as a CloudEvent (structured mode): type `lading.<object>.<past tense>`, the registry event as its data. */
  private cloudEvent(queued: QueuedEvent): Record<string, unknown> {
    const { event, object } = queued;
    const t = event.target;
    return {
      specversion: "1.0",
      id: event.id,
      source: this.source,
      type: `lading.${object}.${pastTense[event.action]}`,
      subject: t.tag !== undefined ? `${t.repository}:${t.tag}` : t.digest !== undefined ? `${t.repository}@${t.digest}` : t.repository,
      time: event.timestamp,
      datacontenttype: "application/json",
      data: event,
    };
  }
}
