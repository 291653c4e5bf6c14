import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { X509Certificate, createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, type JWTHeaderParameters, type JWTPayload } from "jose";
import { ExternalTokens, libtrustKeyId, type ExternalIssuerConfig } from "../../src/server/auth/external.js";
import { Scratch } from "../helpers/scratch.js";

const run = promisify(execFile);
const now = () => Math.floor(Date.now() / 1000);

const opensslConfig = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

interface Issued {
  key: KeyObject;
  cert: X509Certificate;
}

/** Certificates made with openssl in the scratch directory. */
class Pki {
  private serial = 1;
  constructor(private readonly dir: string) {}

  async selfSigned(name: string, keyType: "ec" | "rsa" = "ec"): Promise<Issued> {
    await this.openssl("req", "-x509", "-new", "-config", "openssl.cnf", "-extensions", "ca_ext", ...this.newKey(name, keyType), "-out", `${name}.pem`, "-days", "30", "-subj", `/CN=${name}`);
    return this.load(name);
  }

  /** A certificate signed by `by`; a negative `days` makes one that is no longer valid. */
  async issue(name: string, by: string, kind: "ca" | "leaf", days = 30): Promise<Issued> {
    await this.openssl("req", "-new", "-config", "openssl.cnf", ...this.newKey(name, "ec"), "-out", `${name}.csr`, "-subj", `/CN=${name}`);
    await this.openssl(
      "x509", "-req", "-in", `${name}.csr`, "-CA", `${by}.pem`, "-CAkey", `${by}.key`, "-set_serial", String(++this.serial),
      "-days", String(days), "-extfile", "openssl.cnf", "-extensions", kind === "ca" ? "ca_ext" : "leaf_ext", "-out", `${name}.pem`,
    );
    return this.load(name);
  }

  private newKey(name: string, keyType: "ec" | "rsa"): string[] {
    const algorithm = keyType === "ec" ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] : ["-newkey", "rsa:2048"];
    return [...algorithm, "-nodes", "-keyout", `${name}.key`];
  }

  private async openssl(...args: string[]): Promise<void> {
    await run("openssl", args, { cwd: this.dir });
  }

  private async load(name: string): Promise<Issued> {
    return {
      key: createPrivateKey(await readFile(`${this.dir}/${name}.key`)),
      cert: new X509Certificate(await readFile(`${this.dir}/${name}.pem`)),
    };
  }
}

const service = "registry.example";
const issuerName = "auth.example";
const access = [{ type: "repository", name: "team/app", actions: ["pull", "push"] }];

/** A claim set to undefined is left out. */
function claims(more: Record<string, unknown> = {}): JWTPayload {
  const all = { iss: issuerName, sub: "alice", aud: service, iat: now(), nbf: now(), exp: now() + 300, access, ...more };
  return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined));
}

type SigningKey = Parameters<SignJWT["sign"]>[0];

function sign(key: SigningKey, header: Omit<JWTHeaderParameters, "alg"> & { alg?: string }, payload: JWTPayload = claims()): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: "ES256", typ: "JWT", ...header }).sign(key);
}

const der = (cert: X509Certificate) => cert.raw.toString("base64");

describe("libtrust key IDs", () => {
  test("match the key ID docker's token spec (auth_jwt.md) publishes for its example key", () => {
    const key = createPublicKey({
      key: { kty: "EC", crv: "P-256", x: "m7zUpx3b-zmVE5cymSs64POG9QcyEpJaYCD82-549_Q", y: "dU3biz8sZ_8GPB-odm8Wxz3lNDr1xcAQQPQaOcr1fmc" },
      format: "jwk",
    });
    assert.equal(libtrustKeyId(key), "PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6");
  });
});

describe("external issuer tokens", () => {
  let scratch: Scratch;
  let root: Issued, intermediate: Issued, leaf: Issued, direct: Issued, expiredLeaf: Issued, rsa: Issued, rogueLeaf: Issued;
  let jwksKey: SigningKey;
  let jwksPublic: JWK;
  let config: ExternalIssuerConfig;
  let tokens: ExternalTokens;

  before(async () => {
    scratch = await Scratch.create("external-token");
    await writeFile(scratch.path("openssl.cnf"), opensslConfig);
    const pki = new Pki(scratch.root);
    root = await pki.selfSigned("root");
    intermediate = await pki.issue("intermediate", "root", "ca");
    leaf = await pki.issue("leaf", "intermediate", "leaf");
    direct = await pki.issue("direct", "root", "leaf");
    expiredLeaf = await pki.issue("expired", "intermediate", "leaf", -1);
    rsa = await pki.selfSigned("rsa", "rsa");
    await pki.selfSigned("rogue");
    rogueLeaf = await pki.issue("rogue-leaf", "rogue", "leaf");
    await writeFile(scratch.path("bundle.pem"), `${root.cert.toString()}\n${rsa.cert.toString()}`);

    const pair = await generateKeyPair("ES256", { extractable: true });
    jwksKey = pair.privateKey;
    jwksPublic = await exportJWK(pair.publicKey);
    const other = await generateKeyPair("RS256", { extractable: true });
    await writeFile(
      scratch.path("jwks.json"),
      JSON.stringify({ keys: [{ ...jwksPublic, kid: "jwks-key-1", use: "sig" }, { ...(await exportJWK(other.publicKey)), kid: "jwks-key-2" }] }),
    );

    config = { issuer: issuerName, service, rootcertbundle: scratch.path("bundle.pem"), jwks: scratch.path("jwks.json") };
    tokens = await ExternalTokens.load(config);
  });
  after(() => scratch.cleanup());

  test("a kid naming a bundle certificate's key (its libtrust ID) is accepted, claims as given", async () => {
    const token = await sign(root.key, { kid: libtrustKeyId(root.cert.publicKey) });
    const verified = await tokens.verify(token);
    assert.equal(verified.sub, "alice");
    assert.deepEqual(verified.access, access);
    assert.ok(verified.exp > now());
    assert.equal((await tokens.verify(await sign(rsa.key, { alg: "RS256", kid: libtrustKeyId(rsa.cert.publicKey) }))).sub, "alice");
    // distribution v3 also files bundle keys under their RFC 7638 thumbprint.
    const thumbprint = await calculateJwkThumbprint(await exportJWK(root.cert.publicKey));
    assert.equal((await tokens.verify(await sign(root.key, { kid: thumbprint }))).sub, "alice");
  });

  test("an x5c chain to a bundle root is accepted, through an intermediate or directly", async () => {
    assert.equal((await tokens.verify(await sign(leaf.key, { x5c: [der(leaf.cert), der(intermediate.cert)] }))).sub, "alice");
    assert.equal((await tokens.verify(await sign(direct.key, { x5c: [der(direct.cert)] }))).sub, "alice");
    assert.equal((await tokens.verify(await sign(root.key, { x5c: [der(root.cert)] }))).sub, "alice");
  });

  test("an x5c chain that reaches no bundle root, or holds an expired certificate, is refused", async () => {
    await assert.rejects(tokens.verify(await sign(leaf.key, { x5c: [der(leaf.cert)] })), /x5c chain that leads to no trusted root/);
    await assert.rejects(tokens.verify(await sign(rogueLeaf.key, { x5c: [der(rogueLeaf.cert)] })), /no trusted root/);
    await assert.rejects(tokens.verify(await sign(expiredLeaf.key, { x5c: [der(expiredLeaf.cert), der(intermediate.cert)] })), /outside its validity/);
    // A leaf may not act as an intermediate.
    await assert.rejects(tokens.verify(await sign(leaf.key, { x5c: [der(leaf.cert), der(direct.cert)] })), /no trusted root/);
    // The chain is good, but the token was signed by another key: the leaf's key is the one used.
    await assert.rejects(tokens.verify(await sign(root.key, { x5c: [der(leaf.cert), der(intermediate.cert)] })), /bad signature/);
  });

  test("a kid of the JWKS file is accepted", async () => {
    assert.equal((await tokens.verify(await sign(jwksKey, { kid: "jwks-key-1" }))).sub, "alice");
  });

  test("an embedded jwk is accepted only when it is a trusted key", async () => {
    assert.equal((await tokens.verify(await sign(jwksKey, { jwk: jwksPublic }))).sub, "alice");
    const stranger = await generateKeyPair("ES256", { extractable: true });
    const token = await sign(stranger.privateKey, { jwk: await exportJWK(stranger.publicKey) });
    await assert.rejects(tokens.verify(token), /unknown key \(embedded jwk [A-Z2-7]{4}(:[A-Z2-7]{4}){11}\)/);
  });

  test("claims: sub defaults to empty, access to none", async () => {
    const verified = await tokens.verify(await sign(jwksKey, { kid: "jwks-key-1" }, claims({ sub: undefined, access: undefined })));
    assert.deepEqual(verified.sub, "");
    assert.deepEqual(verified.access, []);
    await assert.rejects(tokens.verify(await sign(jwksKey, { kid: "jwks-key-1" }, claims({ access: [{ type: "repository" }] }))), /malformed access claim/);
  });

  test("wrong issuer, wrong audience, expiry and nbf are refused with the reason", async () => {
    const key = { kid: "jwks-key-1" };
    await assert.rejects(tokens.verify(await sign(jwksKey, key, claims({ iss: "evil.example" }))), /wrong issuer "evil\.example"/);
    await assert.rejects(tokens.verify(await sign(jwksKey, key, claims({ aud: "other.example" }))), /wrong audience "other\.example"/);
    assert.equal((await tokens.verify(await sign(jwksKey, key, claims({ aud: ["other.example", service] })))).sub, "alice");
    await assert.rejects(tokens.verify(await sign(jwksKey, key, claims({ iat: now() - 7200, nbf: now() - 7200, exp: now() - 3600 }))), /expired at/);
    assert.equal((await tokens.verify(await sign(jwksKey, key, claims({ exp: now() - 30 })))).sub, "alice", "within the minute of leeway");
    await assert.rejects(tokens.verify(await sign(jwksKey, key, claims({ nbf: now() + 600 }))), /not valid before/);
    await assert.rejects(tokens.verify(await sign(jwksKey, key, claims({ exp: undefined }))), /no exp claim/);
  });

  test("a tampered payload, an unknown key and a missing key are refused", async () => {
    const [head, , signature] = (await sign(jwksKey, { kid: "jwks-key-1" })).split(".");
    const payload = Buffer.from(JSON.stringify(claims({ access: [{ type: "repository", name: "*", actions: ["*"] }] }))).toString("base64url");
    await assert.rejects(tokens.verify(`${head}.${payload}.${signature}`), /bad signature/);
    await assert.rejects(tokens.verify(await sign(jwksKey, { kid: "nobody" })), /unknown key \(kid "nobody"\)/);
    await assert.rejects(tokens.verify(await sign(jwksKey, {})), /names no signing key/);
    await assert.rejects(tokens.verify(await sign(jwksKey, { kid: "jwks-key-2" })), /signing key does not fit algorithm "ES256"/);
    await assert.rejects(tokens.verify("not-a-token"), /invalid token/);
  });

  test("signingalgorithms restricts the algorithms", async () => {
    const esOnly = await ExternalTokens.load({ ...config, signingalgorithms: ["ES256"] });
    assert.equal((await esOnly.verify(await sign(jwksKey, { kid: "jwks-key-1" }))).sub, "alice");
    const token = await sign(rsa.key, { alg: "RS256", kid: libtrustKeyId(rsa.cert.publicKey) });
    await assert.rejects(esOnly.verify(token), /algorithm "RS256" not accepted \(signingalgorithms: ES256\)/);
    const hmac = await new SignJWT(claims()).setProtectedHeader({ alg: "HS256", kid: "jwks-key-1" }).sign(new Uint8Array(32));
    await assert.rejects(tokens.verify(hmac), /algorithm "HS256" not accepted/);
  });

  test("unusable key files are refused at load, naming the file", async () => {
    await writeFile(scratch.path("empty.pem"), "no certificates here\n");
    await writeFile(scratch.path("bad.pem"), "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");
    await writeFile(scratch.path("bad.json"), "{ keys: ");
    await writeFile(scratch.path("nokeys.json"), JSON.stringify({ keys: [{ kty: "oct", k: "c2VjcmV0", kid: "s" }] }));
    const load = (more: Partial<ExternalIssuerConfig>) => ExternalTokens.load({ issuer: issuerName, service, ...more });
    await assert.rejects(load({ rootcertbundle: scratch.path("missing.pem") }), /cannot read rootcertbundle .*missing\.pem \(ENOENT/);
    await assert.rejects(load({ jwks: scratch.path("missing.json") }), /cannot read jwks .*missing\.json \(ENOENT/);
    await assert.rejects(load({ rootcertbundle: scratch.path("empty.pem") }), /empty\.pem holds no certificates/);
    await assert.rejects(load({ rootcertbundle: scratch.path("bad.pem") }), /bad\.pem: certificate 1 cannot be parsed/);
    await assert.rejects(load({ jwks: scratch.path("bad.json") }), /bad\.json is not JSON/);
    await assert.rejects(load({ jwks: scratch.path("nokeys.json") }), /nokeys\.json: key 0 \(kid s\) is not a public key/);
    await writeFile(scratch.path("none.json"), JSON.stringify({ keys: [] }));
    await assert.rejects(load({ jwks: scratch.path("none.json") }), /at least one signing key: none in .*none\.json/);
    await assert.rejects(load({}), /name rootcertbundle or jwks/);
  });
});
