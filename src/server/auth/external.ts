import { X509Certificate, createHash, createPublicKey, type JsonWebKey, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { calculateJwkThumbprint, decodeProtectedHeader, errors, jwtVerify, type JWK, type JWTHeaderParameters } from "jose";
import type { AccessEntry, TokenClaims } from "./claims.js";

/*
 * Bearer tokens of an external token service, configured with registry:2's `auth.token` keys and
 * checked the way distribution's registry/auth/token does: the signing key comes from the
 * token's header (an `x5c` chain to a root of the bundle, an embedded `jwk` that is one of the
 * trusted keys, or a `kid` naming one), the signature is checked first, then iss, aud, exp and
 * nbf with a minute of leeway. Nothing here calls the token service.
 */

export interface ExternalIssuerConfig {
  issuer: string;
  service: string;
  /** A PEM file of certificates: the roots for `x5c` chains, and keys for `kid`. */
  rootcertbundle?: string;
  /** A JWKS file: keys looked up by `kid`. */
  jwks?: string;
  signingalgorithms?: string[];
}

/** distribution's clock-skew allowance on exp and nbf. */
const leewaySeconds = 60;
/** Longest x5c chain followed, leaf included. */
const maxChain = 10;
/** Public-key algorithms only: a verifier holding public keys has no use for HMAC. */
const defaultAlgorithms = ["ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"];

export class ExternalTokens {
  private constructor(
    private readonly config: ExternalIssuerConfig,
    private readonly roots: readonly X509Certificate[],
    /** Trusted keys by ID: bundle keys under their libtrust ID and RFC 7638 thumbprint, JWKS keys under their kid. */
    private readonly keys: ReadonlyMap<string, KeyObject>,
    private readonly algorithms: readonly string[],
  ) {}

  static async load(config: ExternalIssuerConfig): Promise<ExternalTokens> {
    const roots = config.rootcertbundle === undefined ? [] : await readCertificates(config.rootcertbundle);
    const keys = new Map<string, KeyObject>();
    for (const cert of roots) {
      keys.set(libtrustKeyId(cert.publicKey), cert.publicKey);
      keys.set(await calculateJwkThumbprint(cert.publicKey.export({ format: "jwk" }) as JWK), cert.publicKey);
    }
    if (config.jwks !== undefined) for (const [kid, key] of await readJwks(config.jwks)) keys.set(kid, key);
    if (keys.size === 0) {
      const named = [config.rootcertbundle, config.jwks].filter((f) => f !== undefined).join(" and ");
      throw new Error(`token auth needs at least one signing key: ${named === "" ? "name rootcertbundle or jwks" : `none in ${named}`}`);
    }
    const unknown = (config.signingalgorithms ?? []).filter((a) => !defaultAlgorithms.includes(a));
    if (unknown.length > 0) throw new Error(`unsupported signing algorithm ${unknown.join(", ")} (supported: ${defaultAlgorithms.join(", ")})`);
    const algorithms = config.signingalgorithms !== undefined && config.signingalgorithms.length > 0 ? config.signingalgorithms : defaultAlgorithms;
    return new ExternalTokens(config, roots, keys, algorithms);
  }

  /** The claims of a valid token; otherwise throws an Error saying what is wrong with it. */
  async verify(token: string): Promise<TokenClaims> {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, (header) => this.signingKey(header), {
        algorithms: [...this.algorithms],
        issuer: this.config.issuer,
        audience: this.config.service,
        clockTolerance: leewaySeconds,
        requiredClaims: ["exp"],
      }));
    } catch (err) {
      throw new Error(`invalid token: ${this.explain(err, token)}`, { cause: err });
    }
    return { sub: typeof payload.sub === "string" ? payload.sub : "", access: accessClaim(payload["access"]), exp: payload.exp! };
  }

  private signingKey(header: JWTHeaderParameters): KeyObject {
    const now = new Date();
    if (header.x5c !== undefined) return verifyChain(header.x5c, this.roots, now);
    if (header.jwk !== undefined) return this.embeddedKey(header.jwk, now);
    if (header.kid !== undefined) {
      const key = this.keys.get(header.kid);
      if (key === undefined) throw new KeyRefused(`signed by an unknown key (kid ${JSON.stringify(header.kid)})`);
      return key;
    }
    throw new KeyRefused("names no signing key (no x5c, jwk or kid header)");
  }

  /** An embedded key is only as good as a trusted key it equals, or a chain to a trusted root. */
  private embeddedKey(jwk: unknown, now: Date): KeyObject {
    const key = publicKeyOf(jwk);
    if (key === undefined) throw new KeyRefused("carries a jwk header that is not a public key");
    const x5c = (jwk as { x5c?: unknown }).x5c;
    if (x5c !== undefined) {
      if (!sameKey(verifyChain(x5c, this.roots, now), key)) throw new KeyRefused("carries a jwk header whose key is not its x5c leaf's");
      return key;
    }
    const trusted = [...this.keys.values()].find((k) => sameKey(k, key));
    if (trusted === undefined) throw new KeyRefused(`signed by an unknown key (embedded jwk ${libtrustKeyId(key)})`);
    return trusted;
  }

  private explain(err: unknown, token: string): string {
    if (err instanceof KeyRefused) return err.message;
    if (err instanceof errors.JWTExpired) return `expired at ${isoTime(err.payload.exp)}`;
    if (err instanceof errors.JWTClaimValidationFailed) {
      const { claim, reason, payload } = err;
      if (reason === "missing") return `no ${claim} claim`;
      if (claim === "iss") return `wrong issuer ${JSON.stringify(payload.iss)} (trusted: ${JSON.stringify(this.config.issuer)})`;
      if (claim === "aud") return `wrong audience ${JSON.stringify(payload.aud)} (this service is ${JSON.stringify(this.config.service)})`;
      if (claim === "nbf") return `not valid before ${isoTime(payload.nbf)}`;
      return `${claim} claim: ${err.message}`;
    }
    if (err instanceof errors.JWSSignatureVerificationFailed) return "bad signature";
    if (err instanceof errors.JOSEAlgNotAllowed) {
      return `algorithm ${JSON.stringify(headerAlg(token))} not accepted (signingalgorithms: ${this.algorithms.join(", ")})`;
    }
    if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return `malformed (${err.message})`;
    // A key of another type: jose's own error, or WebCrypto's (a TypeError on Node 20, a DataError since).
    if (err instanceof errors.JOSENotSupported || err instanceof TypeError || (err instanceof DOMException && err.name === "DataError")) {
      return `its signing key does not fit algorithm ${JSON.stringify(headerAlg(token))} (${err.message})`;
    }
    return err instanceof Error ? err.message : String(err);
  }
}

/** A reason to refuse the key a token names; its message completes "invalid token: ...". */
class KeyRefused extends Error {}

/**
 * docker/libtrust's key ID: SHA-256 of the DER SubjectPublicKeyInfo, its first 240 bits in
 * unpadded RFC 4648 base32, as twelve groups of four joined with ':'.
 */
export function libtrustKeyId(publicKey: KeyObject): string {
  const key = publicKey.type === "private" ? createPublicKey(publicKey) : publicKey;
  const digest = createHash("sha256").update(key.export({ type: "spki", format: "der" })).digest().subarray(0, 30);
  return base32(digest).match(/.{4}/g)!.join(":");
}

function base32(bytes: Uint8Array): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(buffer << (5 - bits)) & 31];
  return out;
}

/**
 * The leaf key of an x5c chain that leads, through CA certificates it carries, to a root of the
 * bundle (or whose leaf is itself one), every certificate on the way within its validity dates.
 */
function verifyChain(x5c: unknown, roots: readonly X509Certificate[], now: Date): KeyObject {
  if (!Array.isArray(x5c) || x5c.length === 0) throw new KeyRefused("carries an empty or malformed x5c header");
  if (x5c.length > maxChain) throw new KeyRefused(`carries an x5c chain longer than ${maxChain}`);
  const certs = x5c.map((entry, i) => {
    try {
      if (typeof entry !== "string") throw new TypeError("not a string");
      return new X509Certificate(Buffer.from(entry, "base64"));
    } catch (err) {
      throw new KeyRefused(`carries an x5c entry ${i} that is not a certificate (${(err as Error).message})`);
    }
  });
  const [leaf, ...intermediates] = certs as [X509Certificate, ...X509Certificate[]];
  const used = new Set<X509Certificate>();
  let current = leaf;
  for (;;) {
    checkDates(current, now);
    if (roots.some((root) => root.raw.equals(current.raw))) return leaf.publicKey;
    const root = roots.find((r) => issued(r, current));
    if (root !== undefined) {
      checkDates(root, now);
      return leaf.publicKey;
    }
    const next = intermediates.find((c) => !used.has(c) && c.ca && issued(c, current));
    if (next === undefined) throw new KeyRefused(`carries an x5c chain that leads to no trusted root (nothing issued ${JSON.stringify(current.subject)})`);
    used.add(next);
    current = next;
  }
}

function issued(issuer: X509Certificate, subject: X509Certificate): boolean {
  return subject.checkIssued(issuer) && subject.verify(issuer.publicKey);
}

function checkDates(cert: X509Certificate, now: Date): void {
  if (now < new Date(cert.validFrom) || now > new Date(cert.validTo)) {
    throw new KeyRefused(`carries a certificate ${JSON.stringify(cert.subject)} outside its validity (${cert.validFrom} to ${cert.validTo})`);
  }
}

function sameKey(a: KeyObject, b: KeyObject): boolean {
  return a.export({ type: "spki", format: "der" }).equals(b.export({ type: "spki", format: "der" }));
}

/** The public key of a JWK, private members ignored; undefined when it is not an asymmetric key. */
function publicKeyOf(jwk: unknown): KeyObject | undefined {
  if (typeof jwk !== "object" || jwk === null) return undefined;
  const { kty, crv, x, y, n, e } = jwk as Record<string, unknown>;
  const members = Object.fromEntries(Object.entries({ kty, crv, x, y, n, e }).filter(([, v]) => v !== undefined));
  try {
    const key = createPublicKey({ key: members as JsonWebKey, format: "jwk" });
    return key.type === "public" ? key : undefined;
  } catch {
    return undefined;
  }
}

async function readCertificates(path: string): Promise<X509Certificate[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    throw new Error(`cannot read rootcertbundle ${path} (${(cause as Error).message})`, { cause });
  }
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length !== (text.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length) {
    throw new Error(`rootcertbundle ${path}: a certificate has no END CERTIFICATE line`);
  }
  if (blocks.length === 0) throw new Error(`rootcertbundle ${path} holds no certificates (PEM "BEGIN CERTIFICATE" blocks)`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (cause) {
      throw new Error(`rootcertbundle ${path}: certificate ${i + 1} cannot be parsed (${(cause as Error).message})`, { cause });
    }
  });
}

/** A JWKS file's signing keys by kid; keys without a kid go under their libtrust ID and thumbprint. */
async function readJwks(path: string): Promise<Map<string, KeyObject>> {
  let text: string;
  let set: unknown;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    throw new Error(`cannot read jwks ${path} (${(cause as Error).message})`, { cause });
  }
  try {
    set = JSON.parse(text);
  } catch (cause) {
    throw new Error(`jwks ${path} is not JSON (${(cause as Error).message})`, { cause });
  }
  const keys = (set as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new Error(`jwks ${path} is not a JWK set (no "keys" array)`);
  const found = new Map<string, KeyObject>();
  for (const [i, jwk] of keys.entries()) {
    if ((jwk as { use?: unknown }).use === "enc") continue;
    const key = publicKeyOf(jwk);
    const kid = (jwk as { kid?: unknown }).kid;
    if (key === undefined) throw new Error(`jwks ${path}: key ${i}${typeof kid === "string" ? ` (kid ${kid})` : ""} is not a public key`);
    if (typeof kid === "string" && kid !== "") found.set(kid, key);
    else {
      found.set(libtrustKeyId(key), key);
      found.set(await calculateJwkThumbprint(key.export({ format: "jwk" }) as JWK), key);
    }
  }
  return found;
}

/** The access claim as given; a token whose access claim is not a list of entries is refused. */
function accessClaim(value: unknown): AccessEntry[] {
  if (value === undefined || value === null) return [];
  const entries = Array.isArray(value) ? value : [undefined];
  return entries.map((entry: unknown) => {
    const e = entry as Partial<Record<keyof AccessEntry, unknown>> | undefined;
    const actions = e?.actions ?? [];
    if (typeof e?.type !== "string" || typeof e.name !== "string" || !Array.isArray(actions) || !actions.every((a) => typeof a === "string")) {
      throw new Error("invalid token: malformed access claim (want [{type, name, actions: [...]}])");
    }
    return { type: e.type, name: e.name, actions: actions as string[] };
  });
}

function isoTime(seconds: unknown): string {
  return typeof seconds === "number" ? new Date(seconds * 1000).toISOString() : String(seconds);
}

function headerAlg(token: string): unknown {
  try {
    return decodeProtectedHeader(token).alg;
  } catch {
    return undefined;
  }
}
