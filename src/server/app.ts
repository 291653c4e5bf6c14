import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer as createHttpServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, type ServerOptions as HttpsServerOptions } from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import type { Audit, AuditEvent } from "../auth/audit.js";
import { unrestricted } from "../auth/policy.js";
import { ConfigError } from "../config/load.js";
import { compose, keyStoreOf, type Composition } from "../config/root.js";
import type { Config } from "../config/schema.js";
import { RegistryError } from "../oci/errors.js";
import type { Registry } from "../registry/index.js";
import { addressOf } from "./auth/controller.js";
import type { Context, Handler } from "./context.js";
import { tokenEndpoint } from "./routes/token.js";
import { sendError } from "./errors.js";
import { HeapCollector } from "./heap-collector.js";
import { adminSocketPath, openAdminSocket, scheduleCollection } from "./admin.js";
import { Health } from "./health.js";
import { RateLimiter, Slots } from "./limits.js";
import { Metrics } from "./metrics.js";
import { match } from "./router.js";
import { apiPrefix, uiApi } from "../ui/api.js";
import { uiPages } from "../ui/static.js";
import { RegistryViews } from "../ui/views.js";
import { Sessions } from "../ui/sessions.js";
import { StorageEstimates } from "../ui/storage.js";
import { Notifications } from "../events/notifications.js";
import type { Mirror } from "../mirror/mirror.js";
import type { AccessRequest } from "./auth/access.js";

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:5000 */
  url: string;
  port: number;
  registry: Registry;
  metrics: Metrics;
  /** Stops accepting connections and lets in-flight requests finish (up to http.draintimeout). */
  close(): Promise<void>;
}

export interface ServerOptions {
  logger?: Logger;
}

const uploadRoutes = new Set(["upload", "uploads"]);

/** Routes whose success the audit log records, with the event each is. */
const audited: Record<string, AuditEvent["event"] | undefined> = { "PUT manifest": "push", "DELETE manifest": "delete", "DELETE blob": "delete" };

/** Records a successful push, delete or cross-repository mount in the audit log. */
function record(audit: Audit, ctx: Context, status: number): void {
  const mount = ctx.route === "uploads" && status === 201 ? ctx.query.get("mount") : null;
  const event = mount !== null ? "mount" : audited[`${ctx.req.method} ${ctx.route}`];
  if (event === undefined) return;
  const { name, reference } = ctx.params;
  const digest = mount ?? ctx.params.digest;
  const from = mount === null ? null : ctx.query.get("from");
  audit.record({
    event,
    user: ctx.grant.principal.name,
    address: addressOf(ctx.req),
    ...(name === undefined ? {} : { repository: name }),
    ...(reference === undefined ? {} : { reference }),
    ...(digest === undefined ? {} : { digest }),
    ...(from === null ? {} : { from }),
    status,
  });
}

/** Builds the registry from its configuration and starts serving it. */
export async function startServer(config: Config, options: ServerOptions = {}): Promise<RunningServer> {
  return serve(await compose(config, options.logger === undefined ? {} : { logger: options.logger }));
}

/**
 * Serves a composed registry. The server is a mount table: `/v2/` (the registry API, behind
 * access control), `/token` (when lading issues tokens), `/healthz` and `/metrics`, and with the
 * web UI on, its JSON endpoints under `/api/v1/` and its pages under `lading.ui.path`; beside a
 * filesystem store, a maintenance socket (admin.ts).
 */
export async function serve(root: Composition): Promise<RunningServer> {
  const { config, log, registry, access, audit } = root;
  const metrics = new Metrics();
  const extraHeaders = Object.entries(config.http.headers);
  const accessLog = !config.log.accesslog.disabled;
  const collector = new HeapCollector();
  const storageCheck = config.health.storagedriver;
  const healthCheck = new Health(root.driver, {
    readOnly: config.storage.maintenance.readonly.enabled,
    ...(storageCheck?.enabled ? { intervalMs: storageCheck.interval, threshold: storageCheck.threshold } : { intervalMs: 2_000, threshold: 1 }),
  });
  const mounts = new Map<string, Handler>([["/healthz", (ctx) => health(ctx, healthCheck)]]);
  const ui = config.lading.ui;
  // What can refuse to start refuses before anything runs, and the store is released.
  let notifications: Notifications | undefined;
  let pages: ReturnType<typeof uiPages> | undefined;
  try {
    pages = ui.enabled ? uiPages(ui.path) : undefined;
    notifications = Notifications.start(config, registry, metrics, log);
  } catch (err) {
    await root.close();
    throw err;
  }
  const limits = config.lading.limits;
  const rate = limits.rate > 0 ? new RateLimiter(limits.rate, limits.burst) : undefined;
  const uploadSlots = limits.uploads > 0 ? new Slots(limits.uploads, "uploads") : undefined;
  if (config.lading.metrics.enabled) mounts.set(config.lading.metrics.path, (ctx) => serveMetrics(ctx, metrics));
  if (root.tokens !== undefined && audit !== undefined) mounts.set("/token", tokenEndpoint(root.tokens.access, root.tokens.issuer, audit));
  // Mounted under a path prefix, after the exact paths and /v2/: the API's before the pages' (which may be at /).
  const prefixMounts: [string, (ctx: Context, pathname: string) => Promise<void>][] = [];
  let storage: StorageEstimates | undefined;
  if (pages !== undefined) {
    const secure = config.http.tls !== undefined || config.http.host?.startsWith("https:") === true;
    const sessions = new Sessions(access, keyStoreOf(config, root.driver, "ui-session.key"), audit, { ttlMs: ui.session.ttl, secure });
    storage = new StorageEstimates(registry, config, log, metrics);
    prefixMounts.push([apiPrefix, uiApi({ views: new RegistryViews(registry), sessions, access, audit, storage })], [ui.path, pages]);
    if (ui.path !== "/") mounts.set(ui.path.slice(0, -1), async (ctx) => redirect(ctx, ui.path));
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = process.hrtime.bigint();
    const requestId = (req.headers["x-request-id"] as string | undefined) ?? randomUUID();
    res.setHeader("Docker-Distribution-API-Version", "registry/2.0");
    res.setHeader("X-Request-Id", requestId);
    for (const [name, value] of extraHeaders) res.setHeader(name, value);
    const rawUrl = req.url ?? "/";
    const q = rawUrl.indexOf("?");
    const pathname = q === -1 ? rawUrl : rawUrl.slice(0, q);
    const ctx: Context = {
      req,
      res,
      params: {},
      query: new URLSearchParams(q === -1 ? "" : rawUrl.slice(q + 1)),
      registry,
      grant: unrestricted,
      config,
      log,
      bytesIn: 0,
      route: "unknown",
    };
    collector.begin();
    res.once("close", () => {
      collector.end(ctx);
      const status = res.writableFinished ? res.statusCode : 499;
      const bytesOut = res.writableFinished && req.method !== "HEAD" ? Number(res.getHeader("content-length") ?? 0) : 0;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.requests.inc({ route: ctx.route, method: req.method ?? "", status });
      metrics.duration.observe({ route: ctx.route, method: req.method ?? "" }, seconds);
      if (ctx.bytesIn > 0) metrics.bytesIn.inc({ route: ctx.route }, ctx.bytesIn);
      if (bytesOut > 0) metrics.bytesOut.inc({ route: ctx.route }, bytesOut);
      if (accessLog) {
        log.info({ req_id: requestId, method: req.method, path: rawUrl, route: ctx.route, status, bytes_in: ctx.bytesIn, bytes_out: bytesOut, duration_ms: Math.round(seconds * 1e4) / 10 }, "request");
      }
      if (audit !== undefined && status < 300) record(audit, ctx, status);
      if (notifications !== undefined && res.writableFinished) notifications.observe(ctx, status, requestId);
    });
    let upload = false;
    let slot = false;
    watchBody(req, res, limits.bodytimeout);
    try {
      // Health and metrics answer whoever asks, as often as they ask: they are how overload is seen.
      const probe = pathname === "/healthz" || pathname === config.lading.metrics.path;
      if (rate !== undefined && !probe) rate.take(addressOf(req));
      const mounted = mounts.get(pathname);
      if (mounted !== undefined) return await mounted(ctx);
      const found = match(req.method ?? "GET", pathname);
      if (!found) {
        const prefixed = prefixMounts.find(([prefix]) => pathname.startsWith(prefix));
        if (prefixed !== undefined) return await prefixed[1](ctx, pathname);
        throw new RegistryError("UNSUPPORTED", `no such endpoint: ${req.method} ${pathname}`, { status: 404 });
      }
      ctx.route = found.route;
      ctx.params = found.params;
      const mirrored = registry.mirror === undefined ? undefined : mirrorRules(registry.mirror, ctx, found.access);
      ctx.grant = await access.authorize(req, mirrored ?? found.access);
      upload = uploadRoutes.has(found.route) && req.method !== "GET" && req.method !== "DELETE";
      // A slot is for bytes: a POST that starts an upload or a PUT that only completes one takes none.
      if (upload && uploadSlots !== undefined && hasBody(req)) {
        uploadSlots.take();
        slot = true;
      }
      if (upload) metrics.uploadsInFlight.inc();
      await found.handler(ctx);
    } catch (err) {
      // The client went away (mid-upload or mid-download): nothing to answer, nothing went wrong here.
      if ((req.destroyed && !req.complete) || res.destroyed || isPrematureClose(err)) {
        log.debug({ req_id: requestId, err }, "client closed the connection");
        res.destroy();
        return;
      }
      if (!req.complete) req.resume();
      sendError(res, req.method, err, log);
    } finally {
      if (upload) metrics.uploadsInFlight.dec();
      if (slot) uploadSlots?.release();
    }
  };

  const listener = (req: IncomingMessage, res: ServerResponse) => void handle(req, res);
  // Timeouts are checked every second (Node's default, 30 s, would let a slow client hold a connection that much longer).
  const checks = { connectionsCheckingInterval: 1_000 };
  const server: Server = config.http.tls ? createHttpsServer({ ...tlsOptions(config.http.tls), ...checks }, listener) : createHttpServer(checks, listener);
  // Large blobs take as long as they take (a body that stops is watchBody's); idle keep-alive
  // connections outlive load balancers' 60 s; headers take at most lading.limits.headertimeout.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = limits.headertimeout;
  server.on("clientError", refuseUnparsed);

  const { host, port } = parseAddr(config.http.addr);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  }).catch(async (err: unknown) => {
    await notifications?.close();
    collector.stop();
    await root.close();
    throw err;
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `${config.http.tls ? "https" : "http"}://${shownHost}:${address.port}`;
  log.info({ addr: `${shownHost}:${address.port}`, url, storage: root.driver.name }, "listening");

  const purging = config.storage.maintenance.uploadpurging;
  const purgeTimer = purging.enabled && !config.storage.maintenance.readonly.enabled ? schedulePurge(registry, purging, log) : undefined;
  const gcSchedule = scheduleCollection(registry, config, log, metrics);
  registry.mirror?.startRetention();
  const fsRoot = config.storage.filesystem?.rootdirectory;
  const admin = fsRoot === undefined ? undefined : await openAdminSocket(adminSocketPath(fsRoot), registry, config, log, metrics);

  return {
    url,
    port: address.port,
    registry,
    metrics,
    close: async () => {
      if (purgeTimer) clearInterval(purgeTimer);
      await gcSchedule?.stop();
      await admin?.close();
      await drain(server, config.http.draintimeout);
      // After the last request: its events are queued, its pulls noted.
      await registry.mirror?.retention.stop();
      await storage?.settled();
      await notifications?.close();
      collector.stop();
      await root.close();
    },
  };
}

/** Runs upload purging every `interval`, the first time one interval after start. */
function schedulePurge(registry: Registry, purging: Config["storage"]["maintenance"]["uploadpurging"], log: Logger): NodeJS.Timeout {
  const timer = setInterval(() => {
    registry.uploads.purge(new Date(Date.now() - purging.age), purging.dryrun).then(
      (result) => log.info({ purged: result.purged.length, kept: result.kept, dryrun: purging.dryrun }, "upload purging"),
      (err: unknown) => log.error({ err }, "upload purging failed"),
    );
  }, Math.min(purging.interval, 2 ** 31 - 1));
  timer.unref();
  return timer;
}

function isPrematureClose(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "ERR_STREAM_PREMATURE_CLOSE" || code === "ECONNRESET" || code === "EPIPE";
}

/** The certificate and key, and with `clientcas` a client certificate signed by one of them is required. */
function tlsOptions(tls: NonNullable<Config["http"]["tls"]>): HttpsServerOptions {
  const read = (file: string, what: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ConfigError(`http.tls.${what} ${file} cannot be read: ${(err as Error).message}`);
    }
  };
  return {
    cert: read(tls.certificate, "certificate"),
    key: read(tls.key, "key"),
    minVersion: tls.minimumtls === "tls1.3" ? "TLSv1.3" : "TLSv1.2",
    ...(tls.clientcas === undefined ? {} : { ca: tls.clientcas.map((file) => read(file, "clientcas")), requestCert: true, rejectUnauthorized: true }),
  };
}

async function health(ctx: Context, check: Health): Promise<void> {
  const { healthy, body } = await check.check();
  if (!healthy) ctx.log.warn({ error: body.error }, "unhealthy");
  ctx.res.writeHead(healthy ? 200 : 503, { "Content-Type": "application/json" });
  ctx.res.end(ctx.req.method === "HEAD" ? undefined : JSON.stringify(body));
}

/**
 * A request Node's parser refuses before any handler sees it (headers too large or too slow, bad
 * framing, bytes that are not HTTP) is answered in the registry's error envelope too, then closed.
 */
function refuseUnparsed(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return;
  }
  const error =
    err.code === "HPE_HEADER_OVERFLOW"
      ? new RegistryError("UNSUPPORTED", "the request's headers are larger than the server takes (16 KiB)", { status: 431 })
      : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? new RegistryError("UNSUPPORTED", "the request's headers did not arrive in time (lading.limits.headertimeout)", { status: 408 })
        : new RegistryError("UNSUPPORTED", `malformed HTTP request (${err.code ?? err.message})`, { status: 400 });
  const body = JSON.stringify({ errors: error.toJSON() });
  socket.end(
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Docker-Distribution-API-Version: registry/2.0\r\nConnection: close\r\n\r\n${body}`,
  );
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
}

/**
 * Drops a request whose body sends nothing for `idleMs` (a client that stalled or never meant to
 * send it): the socket is closed, and an upload stays resumable from what it received.
 */
function watchBody(req: IncomingMessage, res: ServerResponse, idleMs: number): void {
  if (!hasBody(req)) return;
  req.setTimeout(idleMs, () => req.socket.destroy());
  // Once the body is in, the connection's time is Node's again (keep-alive), unless the answer went first and set it.
  req.once("end", () => {
    if (!res.writableFinished) req.setTimeout(0);
  });
}

/**
 * The mirror's part of routing: a pull that names its source registry with `?ns=` (the
 * distribution spec's Registry Proxying) is served from the repository that upstream's mirror
 * keeps here, which access control then judges, and the answer says `OCI-Namespace`; a push into
 * a mirrored repository is refused (its content comes from upstream). Returns the access the
 * request then needs.
 */
function mirrorRules(mirror: Mirror, ctx: Context, access: AccessRequest[]): AccessRequest[] | undefined {
  const name = ctx.params.name;
  if (name === undefined) return undefined;
  const method = ctx.req.method;
  const namespace = ctx.query.get("ns");
  const local = namespace === null || (method !== "GET" && method !== "HEAD") ? undefined : mirror.localName(namespace, name);
  if (local !== undefined) {
    ctx.params = { ...ctx.params, name: local };
    ctx.res.setHeader("OCI-Namespace", namespace!);
  }
  const mapped = mirror.mapped(ctx.params.name!);
  if (mapped !== undefined && (method === "PUT" || method === "POST" || method === "PATCH")) {
    throw new RegistryError("UNSUPPORTED", `repository ${ctx.params.name} mirrors ${mapped.upstream.settings.url.host}: it takes no pushes`);
  }
  return local === undefined ? undefined : access.map((a) => (a.type === "repository" && a.name === name ? { ...a, name: local } : a));
}

async function redirect(ctx: Context, location: string): Promise<void> {
  ctx.res.writeHead(301, { Location: location, "Content-Length": 0 });
  ctx.res.end();
}

async function serveMetrics(ctx: Context, metrics: Metrics): Promise<void> {
  const text = await metrics.registry.metrics();
  ctx.res.writeHead(200, { "Content-Type": metrics.registry.contentType });
  ctx.res.end(text);
}

/** `host:port`, `:port` (every interface) or `[v6]:port`. */
export function parseAddr(addr: string): { host: string | undefined; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!match) throw new Error(`invalid listen address ${JSON.stringify(addr)}: expected HOST:PORT`);
  const host = match[1] ?? match[2];
  return { host: host === "" ? undefined : host, port: Number(match[3]) };
}

async function drain(server: Server, timeoutMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), timeoutMs);
  timer.unref();
  await closed;
  clearTimeout(timer);
}
