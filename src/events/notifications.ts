import { join } from "node:path";
import type { Logger } from "pino";
import { ConfigError } from "../config/load.js";
import type { Config } from "../config/schema.js";
import type { Registry } from "../registry/index.js";
import type { Context } from "../server/context.js";
import type { Metrics } from "../server/metrics.js";
import { Endpoint } from "./endpoint.js";
import { EventQueue, Journal } from "./queue.js";
import { EventRecorder } from "./recorder.js";

/**
 * registry:2's notifications: the events of every answered request, sent to each configured
 * endpoint through a queue of its own, kept on disk (`lading.notifications.queuedir`, by default
 * beside a filesystem store's tree) so that a restart loses none, and bounded
 * (`lading.notifications.maxqueue`). Each endpoint's state is in /metrics.
 */
export class Notifications {
  private constructor(
    private readonly recorder: EventRecorder,
    readonly endpoints: readonly Endpoint[],
    private readonly log: Logger,
  ) {}

  /** The notifications a configuration asks for, started; undefined when it names no enabled endpoint. */
  static start(config: Config, registry: Registry, metrics: Metrics, log: Logger): Notifications | undefined {
    const configured = config.notifications.endpoints.filter((e) => !e.disabled);
    if (configured.length === 0) return undefined;
    const own = config.lading.notifications;
    const dir = own.queuedir ?? (config.storage.filesystem === undefined ? undefined : join(config.storage.filesystem.rootdirectory, ".lading-events"));
    if (dir === undefined && config.storage.inmemory === undefined) {
      throw new ConfigError("notifications.endpoints: set lading.notifications.queuedir, a directory of this process's own where events wait for their receivers (a restart then loses none)");
    }
    const host = config.http.host ?? `//${config.http.addr}`;
    const endpoints = configured.map((e) => {
      const queue = new EventQueue(own.maxqueue, dir === undefined ? undefined : new Journal(join(dir, e.name)));
      return new Endpoint(
        {
          name: e.name,
          url: e.url,
          headers: e.headers,
          timeoutMs: e.timeout,
          threshold: e.threshold,
          backoffMs: e.backoff,
          ignoredMediaTypes: [...e.ignoredmediatypes, ...e.ignore.mediatypes],
          ignoredActions: e.ignore.actions,
          format: e.format,
        },
        queue,
        host,
        log,
      );
    });
    const notifications = new Notifications(new EventRecorder(registry, config, config.notifications.events.includereferences), endpoints, log);
    metrics.watchNotifications(endpoints);
    for (const endpoint of endpoints) {
      log.info({ endpoint: endpoint.settings.name, url: endpoint.settings.url, pending: endpoint.queue.pending, format: endpoint.settings.format }, "notifications endpoint");
      endpoint.start();
    }
    return notifications;
  }

  /** Queues the events of an answered request for every endpoint; never fails the request. */
  observe(ctx: Context, status: number, requestId: string): void {
    this.recorder.eventsOf(ctx, status, requestId).then(
      (events) => {
        const lines = events.map((e) => JSON.stringify(e));
        for (const endpoint of this.endpoints) endpoint.enqueue(events, lines);
      },
      (err: unknown) => this.log.error({ err, req_id: requestId }, "notification events could not be made"),
    );
  }

  /** Stops sending; what is queued stays for the next start. */
  async close(): Promise<void> {
    await Promise.all(this.endpoints.map((e) => e.stop()));
  }
}
