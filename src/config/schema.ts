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

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** S3's smallest part but the last, and its largest part (also the largest single copy). */
const minPartSize = 5 * MiB;
const maxPartSize = 5 * GiB;

/** registry:2 reads its s3 numbers and switches from strings too ("5242880", "true"). */
const numeric = (v: unknown) => (typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v);
const flag = z.preprocess((v) => (v === "true" ? true : v === "false" ? false : v), z.boolean());
function bytes(fallback: number, min: number, max: number) {
  return z.preprocess(numeric, z.number().int().min(min, { message: `must be at least ${min} bytes` }).max(max, { message: `must be at most ${max} bytes` })).default(fallback);
}
function count(fallback: number, max: number) {
  return z.preprocess(numeric, z.number().int().min(1).max(max)).default(fallback);
}

/**
 * registry:2's `storage.s3` keys (distribution's registry/storage/driver/s3-aws/s3.go), each acted
 * on or refused with a message naming it, plus lading's `forcepathstyle`. See src/storage/s3/config.ts
 * for what each becomes in the client.
 */
export const s3Storage = z
  .object({
    region: z.string().min(1).optional(),
    /** The endpoint URL of an S3-compatible service; a bare host[:port] takes its scheme from `secure`. */
    regionendpoint: z.string().min(1).optional(),
    bucket: z.string().min(1),
    /** Keys are `<rootdirectory without leading and trailing slashes>/docker/registry/v2/...`, as registry:2 makes them. */
    rootdirectory: z.string().default(""),
    /** Both or neither; neither means the SDK's default credential chain (environment, profile, instance role). */
    accesskey: z.string().optional(),
    secretkey: z.string().optional(),
    secure: flag.optional(),
    v4auth: flag.refine((v) => v, { message: "SigV2 (v4auth: false) is not supported: lading signs with SigV4; remove v4auth or set it to true" }).optional(),
    /** The size of each uploaded part. */
    chunksize: bytes(10 * MiB, minPartSize, maxPartSize),
    /**
     * lading's own: the memory all uploads' part buffers share (src/storage/s3/pool.ts); at least one
     * part. Default 64 MiB, or five parts when `chunksize` is larger than 12.8 MiB.
     */
    uploadmemory: z.preprocess(numeric, z.number().int().positive()).optional(),
    multipartcopychunksize: bytes(32 * MiB, minPartSize, maxPartSize),
    multipartcopymaxconcurrency: count(100, 10_000),
    /** Objects above this size are moved by a multipart copy (required above 5 GiB). */
    multipartcopythresholdsize: bytes(32 * MiB, 0, maxPartSize),
    /** NONE sends no storage class (for services that refuse the header). */
    storageclass: z
      .preprocess(
        (v) => (typeof v === "string" ? v.toUpperCase() : v),
        z.enum(["NONE", "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "OUTPOSTS", "GLACIER_IR", "EXPRESS_ONEZONE"]),
      )
      .default("STANDARD"),
    /** Server-side encryption: SSE-S3 (AES256), or SSE-KMS with `keyid`. */
    encrypt: flag.default(false),
    keyid: z.string().optional(),
    skipverify: flag.default(false),
    /** A canned ACL sent with every object; none is sent when absent (ACL-less buckets refuse most). */
    objectacl: z
      .enum(["private", "public-read", "public-read-write", "authenticated-read", "aws-exec-read", "bucket-owner-read", "bucket-owner-full-control"])
      .optional(),
    loglevel: z
      .union([z.literal(false), z.string()])
      .optional()
      .superRefine((value, ctx) => {
        if (value === undefined || value === false || value.toLowerCase() === "off") return;
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: "lading does not log the AWS SDK's requests: remove loglevel or set it to off (use log.level for lading's own log)" });
      }),
    usedualstack: flag.default(false),
    accelerate: flag.default(false),
    usefipsendpoint: flag.default(false),
    useragent: z.string().optional(),
    /** lading's own (registry:2 v3 has it too): path-style URLs; default true with a regionendpoint, else false. */
    forcepathstyle: flag.optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    const refuse = (key: string, message: string) => ctx.addIssue({ code: z.ZodIssueCode.custom, path: [key], message });
    const endpoint = s.regionendpoint;
    const scheme = endpoint === undefined ? undefined : /^([a-z][a-z0-9+.-]*):\/\//i.exec(endpoint)?.[1]?.toLowerCase();
    if (endpoint === undefined && s.region === undefined) refuse("region", "required (or set regionendpoint for an S3-compatible service)");
    if (scheme !== undefined && scheme !== "http" && scheme !== "https") refuse("regionendpoint", `must be an http:// or https:// URL, not ${scheme}://`);
    if (endpoint === undefined && s.secure === false) refuse("secure", "plain HTTP to AWS S3 is not supported: set regionendpoint to an http:// URL of an S3-compatible service");
    if (scheme !== undefined && s.secure !== undefined && s.secure !== (scheme === "https")) refuse("secure", `secure: ${s.secure} contradicts regionendpoint ${endpoint}`);
    if (!s.accesskey !== !s.secretkey) refuse(s.accesskey ? "secretkey" : "accesskey", "set both accesskey and secretkey, or neither (to use the SDK's default credential chain)");
    if (s.keyid && !s.encrypt) refuse("keyid", "a KMS key is only used with encrypt: true");
    if (s.uploadmemory !== undefined && s.uploadmemory < s.chunksize) refuse("uploadmemory", `must hold at least one part: chunksize is ${s.chunksize} bytes`);
    for (const key of ["usedualstack", "accelerate", "usefipsendpoint"] as const) {
      if (s[key] && endpoint !== undefined) refuse(key, `${key} chooses an AWS endpoint: it cannot be combined with regionendpoint`);
    }
    if (s.accelerate && s.forcepathstyle === true) refuse("accelerate", "transfer acceleration needs virtual-hosted-style URLs: it cannot be combined with forcepathstyle: true");
  });

const storage = z
  .object({
    filesystem: filesystem.optional(),
    inmemory: z.union([z.null(), z.object({}).strict()]).optional(),
    s3: s3Storage.optional(),
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
    /** Blob downloads redirected to the store (a presigned URL) where the driver can; `disable: true` serves them through lading. */
    redirect: z.object({ disable: z.boolean().default(false) }).strict().default({}),
  })
  .strict()
  .refine((s) => [s.filesystem, s.inmemory, s.s3].filter((d) => d !== undefined).length === 1, { message: "configure exactly one storage driver: filesystem, inmemory or s3" });

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

/** Globs, as access rules write them: `*` within a path component, `**` across them. */
const globs = z.array(z.string().min(1)).min(1);

/**
 * A retention rule: a collection removes the tags of matching repositories that none of its keeps
 * keep. Kept: the `keeplast` most recently pushed, those pushed less than `olderthan` ago, those
 * matching `keeptags`, and immutable ones.
 */
const retentionRule = z
  .object({
    repositories: globs,
    keeplast: z.number().int().nonnegative().optional(),
    olderthan: duration.optional(),
    keeptags: z.array(z.string().min(1)).default([]),
  })
  .strict()
  .refine((r) => r.keeplast !== undefined || r.olderthan !== undefined, { message: "a retention rule needs keeplast or olderthan (or both); with neither it would remove every tag but keeptags" });

const sizeUnits: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** A size in bytes: a number, or a string such as "512MiB", "16GiB", "2GB". */
const byteSize = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const match = typeof value === "number" ? undefined : /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const bytes = typeof value === "number" ? value : match !== null && match !== undefined ? Number(match[1]) * (sizeUnits[(match[2] || "b").toLowerCase()] ?? NaN) : NaN;
  if (!Number.isFinite(bytes) || bytes < 0) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `not a size: ${JSON.stringify(value)} (use e.g. 512MiB, 16GiB, or a number of bytes)` });
    return z.NEVER;
  }
  return Math.floor(bytes);
});

/**
 * What protects the server from one client, and a small machine from its load (src/server/limits.ts).
 * 0 turns a limit off.
 */
const limits = z
  .object({
    /** Requests carrying blob bytes at once, over all clients; beyond, 429 with Retry-After. */
    uploads: z.number().int().nonnegative().default(64),
    /** The largest blob an upload may make. */
    maxblobsize: byteSize.default("16GiB"),
    /** Requests per second per client address (a token bucket holding `burst`); beyond, 429 with Retry-After. */
    rate: z.number().nonnegative().default(1000),
    burst: z.number().int().positive().default(2000),
    /** Upload sessions one client address may have open (abandoned ones count until purged); beyond, 429. */
    openuploads: z.number().int().nonnegative().default(1000),
    /** A client has this long to send a request's headers. */
    headertimeout: duration.default("30s").refine((ms) => ms >= 1000, { message: "must be at least 1s" }),
    /** A request body that sends nothing for this long is dropped (its upload stays resumable). */
    bodytimeout: duration.default("60s").refine((ms) => ms >= 1000, { message: "must be at least 1s" }),
  })
  .strict()
  .default({});

/** An upstream registry: its root URL, as the API lives under /v2/ there. */
const registryRoot = z
  .string()
  .url()
  .refine((u) => /^https?:/.test(u), { message: "must be an http or https URL" })
  .refine((u) => new URL(u).pathname === "/" && new URL(u).search === "", { message: "must be a registry's root URL (https://host[:port]), without a path" });

/**
 * registry:2's `notifications.endpoints`: where events are sent, each with its own queue. A zero
 * timeout, threshold or backoff means registry:2's default, as there (1s, 10, 1s).
 */
const notificationEndpoint = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9._-]+$/, { message: "letters, digits, '.', '_' and '-' (it names the endpoint's queue directory)" }),
    disabled: z.boolean().default(false),
    url: z.string().url().refine((u) => /^https?:/.test(u), { message: "must be an http or https URL" }),
    headers: z.record(z.array(z.string())).default({}),
    timeout: duration.default("1s").transform((ms) => (ms > 0 ? ms : 1000)),
    threshold: z.number().int().nonnegative().default(10).transform((n) => (n > 0 ? n : 10)),
    backoff: duration.default("1s").transform((ms) => (ms > 0 ? ms : 1000)),
    ignoredmediatypes: z.array(z.string()).default([]),
    ignore: z
      .object({ mediatypes: z.array(z.string()).default([]), actions: z.array(z.enum(["push", "pull", "mount", "delete"])).default([]) })
      .strict()
      .default({}),
    /** lading's own: registry:2's envelope (`distribution`), or CloudEvents in structured mode. */
    format: z.enum(["distribution", "cloudevents"]).default("distribution"),
  })
  .strict();

/** lading's own settings, beside registry:2's. */
const lading = z
  .object({
    manifests: z.object({ maxsize: z.number().int().positive().default(4 << 20), sparse: z.boolean().default(false) }).strict().default({}),
    metrics: z.object({ enabled: z.boolean().default(true), path: z.string().startsWith("/").default("/metrics") }).strict().default({}),
    /** The web UI (src/ui/): its pages under `path`, its JSON endpoints under /api/v1/. */
    ui: z
      .object({
        enabled: z.boolean().default(true),
        path: z
          .string()
          .regex(/^\/([^?#]*\/)?$/, { message: "must start and end with / (e.g. / or /ui/)" })
          .refine((p) => !/^\/(v2|api|token)\//.test(p), { message: "must not be under /v2/, /api/ or /token/" })
          .default("/"),
        /** A sign-in (with access control on) lasts this long. */
        session: z.object({ ttl: duration.default("12h").refine((ms) => ms >= 60_000, { message: "must be at least 1m" }) }).strict().default({}),
      })
      .strict()
      .default({}),
    auth: ladingAuthSection,
    limits,
    /** Garbage collection (src/registry/gc.ts): on a schedule while serving, and the defaults of `lading gc`. */
    gc: z
      .object({
        /** Collect every `interval` while serving (the first time one interval after start). */
        enabled: z.boolean().default(false),
        interval: duration.default("24h"),
        /** Blobs stored less than this long ago are kept even when nothing references them. */
        grace: duration.default("1h"),
        /** Keep only tagged manifests, what they reach, and their referrers. */
        deleteuntagged: z.boolean().default(false),
        dryrun: z.boolean().default(false),
        /** Per repository pattern, the first rule that matches: tags it does not keep are removed. */
        retention: z.array(retentionRule).default([]),
        /**
         * On a shared store: how long a replica acts on what it last read of the collection state
         * (src/registry/shared-collection.ts); the same on every replica and collector.
         */
        window: duration.default("10s").refine((ms) => ms >= 100, { message: "must be at least 100ms" }),
      })
      .strict()
      .default({}),
    /** Pull-through caches of upstream registries, each under a prefix of its own (src/mirror/). */
    mirror: z
      .object({
        /** How long a tag checked upstream is served without asking again (per upstream too). */
        tagttl: duration.default("1m"),
        upstreams: z
          .array(
            z
              .object({
                prefix: z.string().regex(/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/, { message: "a repository name prefix, e.g. hub or mirrors/ghcr" }),
                url: registryRoot,
                /** The registry host clients name with ?ns= (default: the url's host; docker.io for Docker Hub's). */
                namespace: z.string().optional(),
                username: z.string().optional(),
                password: z.string().optional(),
                /** A docker config.json or podman auth.json holding the upstream's credentials. */
                authfile: z.string().optional(),
                tagttl: duration.optional(),
                /** Cached manifests not pulled for this long are removed, their blobs left to a collection (0: kept). */
                ttl: duration.default("168h"),
              })
              .strict(),
          )
          .default([])
          .superRefine((upstreams, ctx) => {
            const prefixes = upstreams.map((u) => u.prefix);
            const twice = prefixes.find((p, i) => prefixes.indexOf(p) !== i);
            if (twice !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `two upstreams under the prefix ${twice}` });
          }),
      })
      .strict()
      .default({}),
    /** Where and how much of notifications.endpoints' events wait for their receivers (src/events/). */
    notifications: z
      .object({
        /** A directory of this process's own (default: beside a filesystem store's tree); in memory without one on a store in memory. */
        queuedir: z.string().min(1).optional(),
        /** Events kept per endpoint while its receiver is away; past that the oldest are dropped, and counted. */
        maxqueue: z.number().int().positive().default(10_000),
      })
      .strict()
      .default({}),
    tags: z
      .object({
        /** Tags that, once they exist, are never moved or removed. */
        immutable: z.array(z.object({ repositories: globs.default(["**"]), tags: globs }).strict()).default([]),
      })
      .strict()
      .default({}),
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
        endpoints: z.array(notificationEndpoint).default([]),
        events: z.object({ includereferences: z.boolean().default(false) }).strict().default({}),
      })
      .strict()
      .superRefine((n, ctx) => {
        const names = n.endpoints.map((e) => e.name);
        const twice = names.find((name, i) => names.indexOf(name) !== i);
        if (twice !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["endpoints"], message: `two endpoints are named ${JSON.stringify(twice)}: each name is its own queue` });
      })
      .default({}),
    redis: unsupported("redis (lading keeps its caches in memory)"),
    /**
     * registry:2's health checks: its storage driver check tunes lading's /healthz probe
     * (src/server/health.ts); checks of files, URLs and ports lading does not make.
     */
    health: z
      .object({
        storagedriver: z
          .object({ enabled: z.boolean().default(false), interval: duration.default("10s"), threshold: z.number().int().positive().default(3) })
          .strict()
          .optional(),
        file: unsupported("file health checks (health.file)"),
        http: unsupported("HTTP health checks (health.http)"),
        tcp: unsupported("TCP health checks (health.tcp)"),
      })
      .strict()
      .default({}),
    /** registry:2's pull-through cache of one upstream, for every repository (src/mirror/). */
    proxy: z
      .object({
        remoteurl: registryRoot.optional(),
        username: z.string().optional(),
        password: z.string().optional(),
        /** Cached manifests not pulled for this long are removed (0: kept); registry:2's default. */
        ttl: duration.default("168h"),
      })
      .strict()
      .refine((p) => p.remoteurl !== undefined || (p.username === undefined && p.password === undefined), { message: "proxy needs remoteurl" })
      .optional(),
    compatibility: unsupported("compatibility settings (compatibility)"),
    loglevel: unsupported("the top-level loglevel key: use log.level"),
    reporting: unsupported("error reporting services (reporting)"),
    middleware: unsupported("middleware (middleware)"),
    catalog: z.object({ maxentries: z.number().int().positive().default(1000) }).strict().default({}),
  })
  .strict();

export type Config = z.output<typeof configSchema>;
