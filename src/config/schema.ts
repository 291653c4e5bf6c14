import { z } from "zod";
import { authSection, duration, ladingAuthSection } from "./auth.js";

/**
 * A setting of registry:2's that only tunes the reference's own internals (its Go runtime, its
 * caches, its debug endpoints): lading has nothing it would change, so accepting it changes
 * nothing a user relies on. Listed in the README.
 */
const internal = z.unknown();

/**
 * A setting that asks for behaviour lading does not have: accepted only when empty or off, so that
 * a deployment never believes it has something it has not.
 */
function unsupported(what: string) {
  return z.unknown().superRefine((value, ctx) => {
    if (isEmpty(value)) return;
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `lading does not support ${what}; remove this setting` });
  });
}

function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === "") return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === "object") return Object.values(value).every(isEmpty);
  return false;
}

const filesystem = z
  .object({
    rootdirectory: z.string().min(1),
    maxthreads: z.number().int().positive().optional(),
    /** lading's own: uploads, and reads of blobs of 1 MiB or more, bypass the page cache (O_DIRECT). */
    directio: z.boolean().default(true),
  })
  .strict();

const storage = z
  .object({
    filesystem: filesystem.optional(),
    inmemory: z.union([z.null(), z.object({}).strict()]).optional(),
    delete: z.object({ enabled: z.boolean().default(true) }).strict().default({}),
    maintenance: z
      .object({
        uploadpurging: z
          .object({ enabled: z.boolean().default(true), age: duration.default("168h"), interval: duration.default("24h"), dryrun: z.boolean().default(false) })
          .strict()
          .default({}),
        readonly: z.object({ enabled: z.boolean().default(false) }).strict().default({}),
      })
      .strict()
      .default({}),
    cache: z
      .object({
        blobdescriptor: z.enum(["inmemory"], { message: "lading keeps its caches in memory: only blobdescriptor: inmemory (redis is not supported)" }).optional(),
        blobdescriptorsize: internal,
      })
      .strict()
      .optional(),
    /** lading serves blob bytes itself; `disable: true` asks for exactly that. */
    redirect: z.object({ disable: z.literal(true, { message: "lading does not redirect blob downloads; set disable: true or remove it" }) }).strict().optional(),
  })
  .strict()
  .refine((s) => (s.filesystem === undefined) !== (s.inmemory === undefined), { message: "configure exactly one storage driver: filesystem or inmemory" });

const http = z
  .object({
    addr: z.string().default("127.0.0.1:5000"),
    net: z.enum(["tcp"]).optional(),
    prefix: z.enum(["", "/"], { message: "lading serves at the root: a path prefix is not supported" }).optional(),
    host: z.string().url().optional(),
    secret: z.string().optional(),
    relativeurls: z.boolean().optional(),
    draintimeout: duration.default("60s"),
    tls: z
      .object({
        certificate: z.string(),
        key: z.string(),
        /** Client certificates signed by one of these CAs are required (mutual TLS). */
        clientcas: z.array(z.string().min(1)).optional(),
        minimumtls: z.enum(["tls1.2", "tls1.3"], { message: "lading serves TLS 1.2 or 1.3: use tls1.2 or tls1.3" }).optional(),
        letsencrypt: unsupported("Let's Encrypt certificates (http.tls.letsencrypt): give certificate and key"),
      })
      .strict()
      .optional(),
    headers: z.record(z.union([z.string(), z.array(z.string())])).default({}),
    debug: unsupported("a debug server (http.debug): lading serves /metrics and /healthz on its main address"),
    http2: internal,
    h2c: unsupported("HTTP/2 without TLS (http.h2c)"),
  })
  .strict()
  .default({});

const log = z
  .object({
    level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
    formatter: z.enum(["json"], { message: "lading logs JSON lines: use json or remove it" }).optional(),
    accesslog: z.object({ disabled: z.boolean().default(false) }).strict().default({}),
    /** Added to every log line. */
    fields: z.record(z.unknown()).default({}),
    hooks: unsupported("log hooks (log.hooks)"),
    reportcaller: internal,
  })
  .strict()
  .default({});

const validation = z
  .object({
    disabled: z.boolean().optional(),
    enabled: z.boolean().optional(),
    manifests: z
      .object({
        urls: unsupported("URL rules for foreign layers (validation.manifests.urls)"),
        indexes: z
          .object({
            platforms: z.enum(["all", "none"], { message: "lading supports all or none (a platform list is not supported)" }).default("all"),
            platformlist: unsupported("a platform list (validation.manifests.indexes.platformlist)"),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
  })
  .strict()
  .default({});

/** lading's own settings, beside registry:2's. */
const lading = z
  .object({
    manifests: z.object({ maxsize: z.number().int().positive().default(4 << 20), sparse: z.boolean().default(false) }).strict().default({}),
    metrics: z.object({ enabled: z.boolean().default(true), path: z.string().startsWith("/").default("/metrics") }).strict().default({}),
    auth: ladingAuthSection,
  })
  .strict()
  .default({});

export const configSchema = z
  .object({
    version: z.union([z.string(), z.number()]).optional(),
    log,
    storage,
    http,
    validation,
    lading,
    auth: authSection.optional(),
    notifications: z
      .object({
        endpoints: unsupported("notifications (notifications.endpoints)"),
        events: internal,
      })
      .strict()
      .optional(),
    redis: unsupported("redis (lading keeps its caches in memory)"),
    health: internal,
    proxy: unsupported("a pull-through cache (proxy)"),
    compatibility: unsupported("compatibility settings (compatibility)"),
    loglevel: unsupported("the top-level loglevel key: use log.level"),
    reporting: unsupported("error reporting services (reporting)"),
    middleware: unsupported("middleware (middleware)"),
    catalog: z.object({ maxentries: z.number().int().positive().default(1000) }).strict().default({}),
  })
  .strict();

export type Config = z.output<typeof configSchema>;
