import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { OidcUnavailable, OidcVerifier, type OidcCheck } from "../../src/auth/oidc.js";
import type { OidcIssuer } from "../../src/config/auth.js";
import { start, type TestOidcIssuer } from "../helpers/oidc-issuer.js";

const now = () => Math.floor(Date.now() / 1000);

function entry(issuer: string, more: Partial<OidcIssuer> = {}): OidcIssuer {
  return { issuer, audience: "lading", subject: "ci:{repository}", groups: ["ci"], claims: { ref: "refs/heads/main" }, ...more };
}

const good = { sub: "repo:team/app:ref:refs/heads/main", aud: "lading", repository: "team/app", ref: "refs/heads/main" };

function reason(result: OidcCheck): string {
  assert.equal(result.ok, false, "the token should be refused");
  return result.ok ? "" : result.reason;
}

/** A loopback port on which nothing listens. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("OIDC ID tokens", () => {
  let issuer: TestOidcIssuer;
  let verifier: OidcVerifier;
  before(async () => {
    issuer = await start();
    verifier = new OidcVerifier([entry(issuer.url)]);
  });
  after(() => issuer.close());

  test("a good token maps to the subject template, with the issuer's groups; discovery is read once", async () => {
    const token = await issuer.sign(good);
    assert.equal(verifier.recognizes(token), true);
    assert.deepEqual(await verifier.verify(token), { kind: "oidc", name: "ci:team/app", groups: ["ci"] });
    assert.deepEqual(await verifier.verify(await issuer.sign({ ...good, repository: "team/other" })), { kind: "oidc", name: "ci:team/other", groups: ["ci"] });
    assert.equal(issuer.fetches.discovery, 1);
    assert.equal(issuer.fetches.jwks, 1);
  });

  test("an audience among several is enough; a wrong one is refused", async () => {
    assert.equal((await verifier.check(await issuer.sign({ ...good, aud: ["other", "lading"] }))).ok, true);
    const token = await issuer.sign({ ...good, aud: "someone-else" });
    assert.equal(await verifier.verify(token), undefined);
    assert.match(reason(await verifier.check(token)), /audience "someone-else" is not "lading"/);
  });

  test("a token of an issuer not configured is neither recognized nor accepted", async () => {
    const token = await issuer.sign({ ...good, iss: "https://token.actions.githubusercontent.com" });
    assert.equal(verifier.recognizes(token), false);
    assert.equal(await verifier.verify(token), undefined);
    assert.match(reason(await verifier.check(token)), /issuer "https:\/\/token\.actions\.githubusercontent\.com" is not configured/);
  });

  test("expired and not-yet-valid tokens are refused, within a minute of leeway", async () => {
    assert.match(reason(await verifier.check(await issuer.sign({ ...good, iat: now() - 7200, exp: now() - 3600 }))), /expired/);
    assert.match(reason(await verifier.check(await issuer.sign({ ...good, nbf: now() + 3600 }))), /not valid before/);
    assert.equal((await verifier.check(await issuer.sign({ ...good, exp: now() - 20 }))).ok, true);
    assert.match(reason(await verifier.check(await issuer.sign({ ...good, exp: undefined }))), /no exp claim/);
  });

  test("every configured claim must match", async () => {
    const token = await issuer.sign({ ...good, ref: "refs/heads/feature" });
    assert.equal(await verifier.verify(token), undefined);
    assert.match(reason(await verifier.check(token)), /claim ref is "refs\/heads\/feature", not "refs\/heads\/main"/);
    assert.match(reason(await verifier.check(await issuer.sign({ ...good, ref: undefined }))), /claim ref is null/);
  });

  test("a claim the subject template names must be there", async () => {
    const token = await issuer.sign({ ...good, repository: undefined });
    assert.equal(await verifier.verify(token), undefined);
    assert.match(reason(await verifier.check(token)), /needs claim repository/);
  });

  test("a tampered token, a foreign key and garbage are refused without throwing", async () => {
    const [head, , signature] = (await issuer.sign(good)).split(".");
    const payload = Buffer.from(JSON.stringify({ ...good, repository: "team/admin", iss: issuer.url, exp: now() + 300 })).toString("base64url");
    assert.match(reason(await verifier.check(`${head}.${payload}.${signature}`)), /bad signature/);

    const stranger = await start();
    try {
      const forged = await stranger.sign({ ...good, iss: issuer.url }, { kid: "key-1" });
      assert.match(reason(await verifier.check(forged)), /bad signature/);
    } finally {
      await stranger.close();
    }

    for (const junk of ["", "not.a.jwt", "a.b", "Bearer xyz"]) {
      assert.equal(verifier.recognizes(junk), false);
      assert.equal(await verifier.verify(junk), undefined);
    }
  });

  test("several entries for one issuer: the first that matches decides", async () => {
    const two = new OidcVerifier([
      entry(issuer.url, { audience: "release", subject: "release:{repository}", groups: ["release"] }),
      entry(issuer.url, { claims: {} , subject: "{sub}", groups: [] }),
    ]);
    assert.deepEqual(await two.verify(await issuer.sign({ ...good, aud: "release" })), { kind: "oidc", name: "release:team/app", groups: ["release"] });
    assert.deepEqual(await two.verify(await issuer.sign({ ...good, ref: "refs/tags/v1" })), { kind: "oidc", name: good.sub, groups: [] });
    const refused = reason(await two.check(await issuer.sign({ ...good, aud: "nobody" })));
    assert.match(refused, /"release"/);
    assert.match(refused, /"lading"/);
  });
});

describe("OIDC key rotation", () => {
  let issuer: TestOidcIssuer;
  before(async () => {
    issuer = await start({ alg: "RS256" });
  });
  after(() => issuer.close());

  test("a new kid is fetched when it appears; an unknown one is refused", async () => {
    const verifier = new OidcVerifier([entry(issuer.url)], { jwksCooldownMs: 0 });
    assert.ok(await verifier.verify(await issuer.sign(good)));
    assert.equal(issuer.fetches.jwks, 1);

    const kid = await issuer.rotate();
    assert.deepEqual(await verifier.verify(await issuer.sign(good)), { kind: "oidc", name: "ci:team/app", groups: ["ci"] });
    assert.equal(issuer.fetches.jwks, 2);
    assert.ok(await verifier.verify(await issuer.sign(good, { previousKey: true })), "the previous key is still published");

    const unknown = await issuer.sign(good, { kid: "never-published" });
    assert.match(reason(await verifier.check(unknown)), /does not publish \(kid "never-published"\)/);
    assert.notEqual(kid, "never-published");
    assert.equal(issuer.fetches.discovery, 1);
  });
});

describe("OIDC issuers that cannot be asked", () => {
  test("an unreachable issuer throws OidcUnavailable, each time it is asked (failures are not cached)", async () => {
    const url = `http://127.0.0.1:${await deadPort()}`;
    const verifier = new OidcVerifier([entry(url)], { timeoutMs: 2000 });
    const issuer = await start();
    try {
      const token = await issuer.sign({ ...good, iss: url });
      assert.equal(verifier.recognizes(token), true);
      await assert.rejects(verifier.verify(token), (err: unknown) => err instanceof OidcUnavailable && /cannot read .*openid-configuration/.test(err.message));
      await assert.rejects(verifier.check(token), OidcUnavailable);
    } finally {
      await issuer.close();
    }
  });

  test("a discovery document naming another issuer is refused as unusable", async () => {
    const issuer = await start({ discoveryIssuer: "https://elsewhere.example" });
    try {
      const verifier = new OidcVerifier([entry(issuer.url)]);
      await assert.rejects(verifier.verify(await issuer.sign(good)), /names issuer "https:\/\/elsewhere\.example"/);
    } finally {
      await issuer.close();
    }
  });

  test("an issuer whose keys cannot be fetched throws", async () => {
    const dead = await deadPort();
    const discovery = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ issuer: url, jwks_uri: `http://127.0.0.1:${dead}/jwks` }));
    });
    await new Promise<void>((resolve) => discovery.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(discovery.address() as AddressInfo).port}`;
    const issuer = await start();
    try {
      const verifier = new OidcVerifier([entry(url)], { timeoutMs: 2000 });
      const token = await issuer.sign({ ...good, iss: url });
      await assert.rejects(verifier.verify(token), (err: unknown) => err instanceof OidcUnavailable && /cannot fetch its keys/.test(err.message));
    } finally {
      await issuer.close();
      discovery.closeAllConnections();
      await new Promise<void>((resolve) => discovery.close(() => resolve()));
    }
  });
});
