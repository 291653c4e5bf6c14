import { z } from "zod";
import { parseDuration } from "./duration.js";

/*
 * The access-control part of the configuration: registry:2's `auth` section (htpasswd users, a
 * token issuer) and lading's own `lading.auth` (policy, groups, robot tokens, OIDC issuers,
 * throttle, audit log, the built-in token service's key).
 */

export const duration = z
  .union([z.string(), z.number()])
  .transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `not a duration: ${JSON.stringify(value)} (use e.g. 60s, 24h, 1h30m)` });
      return z.NEVER;
    }
    return ms;
  });

/** registry:2's `auth` section. `silly` is a development stub there; lading refuses it. */
export const authSection = z
  .object({
    htpasswd: z.object({ realm: z.string().default("lading"), path: z.string().min(1) }).strict().optional(),
    token: z
      .object({
        /** Where clients get tokens; absent: this server's own /token, as the request named it. */
        realm: z.string().url().optional(),
        service: z.string().min(1).default("lading"),
        issuer: z.string().min(1).default("lading"),
        /** An external issuer's certificates (PEM): its tokens are accepted, lading issues none. */
        rootcertbundle: z.string().min(1).optional(),
        /** An external issuer's keys (a JWKS file). */
        jwks: z.string().min(1).optional(),
        autoredirect: z.boolean().optional(),
        signingalgorithms: z.array(z.enum(["ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"])).optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((a) => a.htpasswd !== undefined || a.token !== undefined, { message: "name htpasswd or token (lading has no other authentication)" });

const action = z.enum(["pull", "push", "delete", "*"]);

/** One rule of the policy: who may do what on which repositories. */
const rule = z
  .object({
    repositories: z.array(z.string().min(1)).min(1),
    users: z.array(z.string().min(1)).default([]),
    groups: z.array(z.string().min(1)).default([]),
    /** Callers with no credentials at all. */
    anonymous: z.boolean().default(false),
    actions: z.array(action).min(1),
  })
  .strict()
  .refine((r) => r.users.length > 0 || r.groups.length > 0 || r.anonymous, { message: "a rule names users, groups or anonymous: true" });

const oidcIssuer = z
  .object({
    issuer: z.string().url(),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    /** The policy user a token maps to: a template over its claims, e.g. "ci:{repository}". */
    subject: z.string().min(1).default("{sub}"),
    groups: z.array(z.string().min(1)).default([]),
    /** Claims a token must carry with exactly these values (e.g. ref: refs/heads/main). */
    claims: z.record(z.string()).default({}),
  })
  .strict();

export const ladingAuthSection = z
  .object({
    /** Users' groups; default: the htpasswd file's path with `.groups` appended. */
    groups: z.string().min(1).optional(),
    /** Robot tokens; default: the htpasswd file's path with `.robots` appended. */
    robots: z.string().min(1).optional(),
    /** Who holds the admin role: every action on every repository, and the whole catalog. */
    admins: z
      .object({ users: z.array(z.string().min(1)).default([]), groups: z.array(z.string().min(1)).default(["admin"]) })
      .strict()
      .default({}),
    /** The policy; absent: every signed-in user may do everything (registry:2's behaviour). */
    rules: z.array(rule).optional(),
    oidc: z.array(oidcIssuer).default([]),
    token: z
      .object({
        /** PEM private key (EC P-256 for ES256, RSA for RS256); default: generated under the storage root. */
        key: z.string().min(1).optional(),
        algorithm: z.enum(["ES256", "RS256"]).default("ES256"),
        expiration: duration.default("5m"),
        /** How long a refresh token (docker login's identity token) stays valid. */
        refreshexpiration: duration.default("720h"),
      })
      .strict()
      .default({}),
    throttle: z
      .object({ attempts: z.number().int().positive().default(10), window: duration.default("5m"), peraddress: z.number().int().positive().default(50) })
      .strict()
      .default({}),
    /** A file that receives the audit log (JSON lines); default: the server's log. */
    audit: z.object({ path: z.string().min(1).optional() }).strict().default({}),
    /** Serve plain HTTP on an address other than loopback although access control is on. */
    insecurehttp: z.boolean().default(false),
  })
  .strict()
  .default({});

export type AuthSection = z.output<typeof authSection>;
export type LadingAuth = z.output<typeof ladingAuthSection>;
export type PolicyRule = z.output<typeof rule>;
export type OidcIssuer = z.output<typeof oidcIssuer>;
