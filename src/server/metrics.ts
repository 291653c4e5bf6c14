import { Counter, Gauge, Histogram, Registry as MetricsRegistry, collectDefaultMetrics } from "prom-client";
import type { Endpoint } from "../events/endpoint.js";

/** The server's Prometheus metrics, in a registry of its own so that several servers can share a process. */
export class Metrics {
  readonly registry = new MetricsRegistry();
  readonly requests = new Counter({ name: "lading_http_requests_total", help: "HTTP requests by route, method and status", labelNames: ["route", "method", "status"], registers: [this.registry] });
  readonly duration = new Histogram({
    name: "lading_http_request_duration_seconds",
    help: "HTTP request duration by route and method",
    labelNames: ["route", "method"],
    buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10, 60],
    registers: [this.registry],
  });
  readonly bytesIn = new Counter({ name: "lading_http_request_bytes_total", help: "Request body bytes received", labelNames: ["route"], registers: [this.registry] });
  readonly bytesOut = new Counter({ name: "lading_http_response_bytes_total", help: "Response body bytes sent", labelNames: ["route"], registers: [this.registry] });
  readonly uploadsInFlight = new Gauge({ name: "lading_uploads_in_flight", help: "Blob upload requests (POST, PATCH, PUT) being received", registers: [this.registry] });
  readonly gcRuns = new Counter({ name: "lading_gc_runs_total", help: "Garbage collections by outcome (ok, failed, refused: another one ran) and whether they were dry runs", labelNames: ["outcome", "dryrun"], registers: [this.registry] });
  readonly gcDeleted = new Counter({ name: "lading_gc_deleted_total", help: "What garbage collections deleted (or, in dry runs, would have), by kind: blob, manifest, tag, link, upload", labelNames: ["kind", "dryrun"], registers: [this.registry] });
  readonly gcKept = new Gauge({ name: "lading_gc_kept_blobs", help: "Blobs the last garbage collection kept, by reason: reachable, young (grace period), inuse", labelNames: ["reason"], registers: [this.registry] });
  readonly gcFreedBytes = new Counter({ name: "lading_gc_freed_bytes_total", help: "Blob bytes garbage collections freed (or, in dry runs, would have)", labelNames: ["dryrun"], registers: [this.registry] });
  readonly gcDuration = new Gauge({ name: "lading_gc_last_duration_seconds", help: "How long the last garbage collection took", registers: [this.registry] });
  readonly gcLast = new Gauge({ name: "lading_gc_last_run_timestamp_seconds", help: "When the last garbage collection ended", registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "lading_" });
  }

  /** Each notifications endpoint's queue and delivery, read when /metrics is asked. */
  watchNotifications(endpoints: readonly Endpoint[]): void {
    const gauge = (name: string, help: string, value: (e: Endpoint) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ["endpoint"],
        registers: [this.registry],
        collect() {
          for (const e of endpoints) this.set({ endpoint: e.settings.name }, value(e));
        },
      });
    };
    gauge("lading_notifications_pending", "Events queued for a notifications endpoint, not yet delivered", (e) => e.queue.pending);
    gauge("lading_notifications_up", "Whether the endpoint's last delivery attempt succeeded (1) or failed (0)", (e) => (e.state.up ? 1 : 0));
    gauge("lading_notifications_failing_attempts", "Failed delivery attempts in a row to the endpoint", (e) => e.state.failures);
    gauge("lading_notifications_delivered_total", "Events the endpoint has taken since the start", (e) => e.state.delivered);
    gauge("lading_notifications_dropped_total", "Events dropped since the start because the endpoint's queue was full (lading.notifications.maxqueue)", (e) => e.queue.dropped);
  }
}
