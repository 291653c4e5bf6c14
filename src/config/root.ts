import { join } from "node:path";
import { pino, type Logger } from "pino";
import { Audit } from "../auth/audit.js";
import { Authenticator } from "../auth/authenticator.js";
import { OidcVerifier } from "../auth/oidc.js";
import { Policy } from "../auth/policy.js";
import { Throttle } from "../auth/throttle.js";
import { Registry } from "../registry/index.js";
import { allowAll, type AccessController } from "../server/auth/access.js";
import { RegistryAccess } from "../server/auth/controller.js";
import { ExternalTokens } from "../server/auth/external.js";
import { TokenIssuer } from "../server/auth/issuer.js";
import { driverKeyStore, fileKeyStore, signingKey, type KeyStore } from "../server/auth/keys.js";
import { createDriver } from "../storage/index.js";
import type { StorageDriver } from "../storage/driver.js";
import { ConfigError, type Config } from "./load.js";
import { Mirror } from "../mirror/mirror.js";
import { upstreamsOf } from "../mirror/settings.js";

/** What a configuration builds: storage, the registry over it, and access control in front of it. */
export interface Composition {
  config: Config;
  log: Logger;
  driver: StorageDriver;
  registry: Registry;
  access: AccessController;
  /** lading's own token service, when it issues tokens. */
  tokens: { access: RegistryAccess; issuer: TokenIssuer } | undefined;
  audit: Audit | undefined;
  close(): Promise<void>;
}

/**
 * The one composition root: config → storage → registry → access control, for `serve` and for
 * every maintenance command, so that none of them reads a setting differently.
 */
export async function compose(config: Config, options: { logger?: Logger } = {}): Promise<Composition> {
  const log = options.logger ?? pino({ level: config.log.level, base: Object.keys(config.log.fields).length > 0 ? config.log.fields : null, timestamp: pino.stdTimeFunctions.isoTime });
  checkTransport(config);
  const upstreams = upstreamsOf(config);
  const driver = await createDriver(config.storage, (message) => log.warn(message));
  // A broken auth setting stops the start: the store is released before the error goes on.
  const control = await accessControl(config, keyStoreOf(config, driver), log).catch(async (err: unknown) => {
    await driver.close();
    throw err;
  });
  const registry = new Registry(driver, {
    deleteEnabled: config.storage.delete.enabled,
    readOnly: config.storage.maintenance.readonly.enabled,
    redirect: !config.storage.redirect.disable,
    maxSize: config.lading.manifests.maxsize,
    requireIndexChildren: config.validation.manifests.indexes.platforms !== "none" && !config.lading.manifests.sparse,
    requireBlobs: !config.lading.manifests.sparse,
    immutableTags: config.lading.tags.immutable,
    collectionWindowMs: config.lading.gc.window,
    uploadLimits: {
      ...(config.lading.limits.maxblobsize > 0 ? { maxBlobSize: config.lading.limits.maxblobsize } : {}),
      ...(config.lading.limits.openuploads > 0 ? { openPerClient: config.lading.limits.openuploads } : {}),
    },
    warn: (message) => log.warn(message),
  });
  if (upstreams.length > 0) registry.mirror = new Mirror(registry, upstreams, log);
  return {
    config,
    log,
    driver,
    registry,
    ...control,
    close: async () => {
      registry.close();
      try {
        await registry.uploads.persistFresh();
      } finally {
        // A checkpoint: the store is then whole without lading's journal (registry:2 can serve it).
        await driver.close();
        await control.audit?.close();
      }
    },
  };
}

/** With access control on, credentials cross the network only inside TLS, unless told otherwise. */
function checkTransport(config: Config): void {
  if (config.auth === undefined || config.http.tls !== undefined || config.lading.auth.insecurehttp) return;
  const host = /^(?:\[([^\]]+)\]|([^:]*)):\d+$/.exec(config.http.addr);
  const name = host?.[1] ?? host?.[2] ?? "";
  if (name === "localhost" || name === "::1" || /^127\./.test(name)) return;
  throw new ConfigError(
    `access control is on and http.addr ${config.http.addr} is not a loopback address: passwords and tokens would cross the network in the clear. ` +
      "Serve TLS (--tls-cert and --tls-key, or http.tls), or, behind a proxy that terminates TLS, pass --insecure-http (lading.auth.insecurehttp: true)",
  );
}

/** Where a generated key (`file`) is kept: beside a filesystem store's tree, or in the bucket, where every replica finds it. */
export function keyStoreOf(config: Config, driver: StorageDriver, file = `token-${config.lading.auth.token.algorithm.toLowerCase()}.pem`): KeyStore | undefined {
  if (config.storage.filesystem !== undefined) return fileKeyStore(join(config.storage.filesystem.rootdirectory, ".lading-auth", file));
  if (config.storage.s3 !== undefined) return driverKeyStore(driver, `/.lading-auth/${file}`);
  return undefined;
}

async function accessControl(config: Config, keys: KeyStore | undefined, log: Logger): Promise<Pick<Composition, "access" | "tokens" | "audit">> {
  const own = config.lading.auth;
  const auth = config.auth;
  if (auth === undefined) {
    if (own.rules !== undefined || own.oidc.length > 0) throw new ConfigError("lading.auth has rules or oidc issuers but no authentication is configured: add auth.htpasswd or auth.token");
    return { access: allowAll, tokens: undefined, audit: undefined };
  }
  const htpasswd = auth.htpasswd?.path;
  const token = auth.token;
  const external = token !== undefined && (token.rootcertbundle !== undefined || token.jwks !== undefined);
  if (external && htpasswd !== undefined) {
    throw new ConfigError("auth.token names an external issuer (rootcertbundle or jwks) and auth.htpasswd names users: lading either issues tokens for its own users or accepts another issuer's, not both");
  }
  if (token !== undefined && !external && htpasswd === undefined && own.robots === undefined && own.oidc.length === 0) {
    throw new ConfigError("auth.token without rootcertbundle or jwks makes lading the token issuer, which needs users: add auth.htpasswd (lading serve --htpasswd FILE --auth token)");
  }
  if (external && token.realm === undefined) throw new ConfigError("auth.token.realm is required with an external issuer: it tells clients where to get tokens");
  if (token?.signingalgorithms !== undefined && !external && !token.signingalgorithms.includes(own.token.algorithm)) {
    throw new ConfigError(`auth.token.signingalgorithms does not include lading.auth.token.algorithm ${own.token.algorithm}`);
  }
  const audit = new Audit(log, own.audit.path);
  const warn = (message: string): void => log.warn(message);
  const authenticator = await Authenticator.open({
    ...(htpasswd === undefined ? {} : { htpasswd, groups: own.groups ?? `${htpasswd}.groups`, robots: own.robots ?? `${htpasswd}.robots` }),
    ...(htpasswd === undefined && own.groups !== undefined ? { groups: own.groups } : {}),
    ...(htpasswd === undefined && own.robots !== undefined ? { robots: own.robots } : {}),
    ...(own.oidc.length > 0 ? { oidc: new OidcVerifier(own.oidc) } : {}),
    warn,
  }).catch((err: unknown) => {
    throw new ConfigError(`access control: ${(err as Error).message}`);
  });
  const service = token?.service ?? "lading";
  const issuer =
    token === undefined || external
      ? undefined
      : new TokenIssuer({
          key: await signingKey(own.token.algorithm, own.token.key, keys).catch((err: unknown) => {
            throw new ConfigError((err as Error).message);
          }),
          algorithm: own.token.algorithm,
          issuer: token.issuer,
          service,
          expirationMs: own.token.expiration,
          refreshExpirationMs: own.token.refreshexpiration,
        });
  const externalTokens = external
    ? await ExternalTokens.load({
        issuer: token.issuer,
        service,
        ...(token.rootcertbundle === undefined ? {} : { rootcertbundle: token.rootcertbundle }),
        ...(token.jwks === undefined ? {} : { jwks: token.jwks }),
        ...(token.signingalgorithms === undefined ? {} : { signingalgorithms: token.signingalgorithms }),
      }).catch((err: unknown) => {
        throw new ConfigError(`auth.token: ${(err as Error).message}`);
      })
    : undefined;
  const access = new RegistryAccess({
    mode: token === undefined ? "basic" : "token",
    realm: auth.htpasswd?.realm ?? "lading",
    tokenRealm: token?.autoredirect === true ? undefined : token?.realm,
    service,
    publicUrl: config.http.host,
    authenticator,
    policy: new Policy(own.rules, own.admins),
    issuer,
    external: externalTokens,
    throttle: new Throttle({ attempts: own.throttle.attempts, perAddress: own.throttle.peraddress, windowMs: own.throttle.window }),
    audit,
  });
  log.info({ mode: token === undefined ? "basic" : external ? "external tokens" : "token", policy: own.rules === undefined ? "signed-in users may do everything" : `${own.rules.length} rules` }, "access control on");
  return { access, tokens: issuer === undefined ? undefined : { access, issuer }, audit };
}
