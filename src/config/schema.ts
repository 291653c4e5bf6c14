import { z } from "zod";
import { parseDuration } from "./duration.js";

const duration = z
  .union([z.string(), z.number()])
  .transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `not a duration: ${JSON.stringify(value)} (use e.g. 60s, 24h, 1h30m)` });
      return z.NEVER;
    }
    return ms;
  });

/** Sections of registry:2's config that lading accepts and does not act on (yet). */
const tolerated = z.unknown();

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
    cache: tolerated,
    redirect: tolerated,
  })
  .strict()
  .refine((s) => (s.filesystem === undefined) !== (s.inmemory === undefined), { message: "configure exactly one storage driver: filesystem or inmemory" });

const http = z
  .object({
    addr: z.string().default("127.0.0.1:5000"),
    net: z.enum(["tcp"]).optional(),
    prefix: tolerated,
    host: z.string().url().optional(),
    secret: z.string().optional(),
    relativeurls: z.boolean().optional(),
    draintimeout: duration.default("60s"),
    tls: z
      .object({ certificate: z.string(), key: z.string(), clientcas: tolerated, minimumtls: tolerated, letsencrypt: tolerated })
      .strict()
      .optional(),
    headers: z.record(z.union([z.string(), z.array(z.string())])).default({}),
    debug: tolerated,
    http2: tolerated,
    h2c: tolerated,
  })
  .strict()
  .default({});

const log = z
  .object({
    level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
    formatter: z.enum(["json", "text", "logstash"]).optional(),
    accesslog: z.object({ disabled: z.boolean().default(false) }).strict().default({}),
    fields: tolerated,
    hooks: tolerated,
    reportcaller: tolerated,
  })
  .strict()
  .default({});

const validation = z
  .object({
    disabled: z.boolean().optional(),
    enabled: z.boolean().optional(),
    manifests: z
      .object({
        urls: tolerated,
        indexes: z
          .object({ platforms: z.enum(["all", "none", "list"]).default("all"), platformlist: tolerated })
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
    auth: tolerated,
    notifications: tolerated,
    redis: tolerated,
    health: tolerated,
    proxy: tolerated,
    compatibility: tolerated,
    loglevel: tolerated,
    reporting: tolerated,
    middleware: tolerated,
    catalog: tolerated,
  })
  .strict();

export type Config = z.output<typeof configSchema>;
