import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { expectError, pushImage, request, startTestServer, type TestServer } from "../api/support.js";
import { start as startOidcIssuer, type TestOidcIssuer } from "../helpers/oidc-issuer.js";
import { accessOf, as, basic, challengeOf, startAuthServer, type AuthServer } from "./support.js";

/** Tokens of issuers other than lading's own: an external token server, and OIDC workload identity. */

describe("an external token issuer's tokens", () => {
  let dir: string;
  let server: TestServer;
  let sign: (access: unknown[], issuer?: string) => Promise<string>;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "lading-external-"));
    const { privateKey, publicKey } = await generateKeyPair("ES256");
    await writeFile(join(dir, "jwks.json"), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "issuer-key-1", alg: "ES256", use: "sig" }] }));
    sign = (access, issuer = "corp-auth") =>
      new SignJWT({ access })
        .setProtectedHeader({ alg: "ES256", kid: "issuer-key-1" })
        .setIssuer(issuer)
        .setSubject("dana")
        .setAudience("corp-registry")
        .setIssuedAt()
        .setExpirationTime("5m")
        .sign(privateKey);
    server = await startTestServer({ "auth.token": { realm: "https://auth.example.com/token", service: "corp-registry", issuer: "corp-auth", jwks: join(dir, "jwks.json") } });
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("sends clients to the external realm and accepts the tokens it signs, for what they grant", async () => {
    const challenge = challengeOf(await request(server, "GET", "/v2/"));
    assert.equal(challenge, 'Bearer realm="https://auth.example.com/token",service="corp-registry"');
    const token = await sign([{ type: "repository", name: "corp/app", actions: ["pull", "push"] }]);
    await pushImage(as(server, { Authorization: `Bearer ${token}` }), "corp/app", "v1");
    const readOnly = await sign([{ type: "repository", name: "corp/app", actions: ["pull"] }]);
    const reply = await request(as(server, { Authorization: `Bearer ${readOnly}` }), "POST", "/v2/corp/app/blobs/uploads/");
    expectError(reply, 401, "UNAUTHORIZED");
    assert.match(challengeOf(reply), /scope="repository:corp\/app:push",error="insufficient_scope"/);
    expectError(await request(as(server, { Authorization: `Bearer ${await sign([], "someone-else")}` }), "GET", "/v2/"), 401, "UNAUTHORIZED");
    assert.equal((await request(server, "GET", "/token")).status, 404, "lading issues no tokens of its own here");
  });
});

describe("OIDC workload identity", () => {
  let issuer: TestOidcIssuer;
  let server: AuthServer;
  before(async () => {
    issuer = await startOidcIssuer();
    server = await startAuthServer("token", {
      "lading.auth.oidc": [{ issuer: issuer.url, audience: "lading", subject: "ci:{repository}", claims: { ref: "refs/heads/main" } }],
      "lading.auth.rules": [{ repositories: ["team/**"], users: ["oidc:ci:org/app"], actions: ["pull", "push"] }],
    });
  });
  after(async () => {
    await server.close();
    await issuer.close();
  });

  const idToken = (claims: Record<string, unknown> = {}) => issuer.sign({ sub: "repo:org/app:ref:refs/heads/main", aud: "lading", repository: "org/app", ref: "refs/heads/main", ...claims });

  it("takes an ID token as the Basic password and maps its claims to a policy subject", async () => {
    const token = await idToken();
    await pushImage(as(server, basic("oidc", token)), "team/from-ci", "v1");
    expectError(await request(as(server, basic("oidc", token)), "POST", "/v2/private/x/blobs/uploads/"), 403, "DENIED");
  });

  it("issues access tokens for an ID token at the token endpoint", async () => {
    const reply = await request(server, "GET", "/token?service=test-registry&scope=repository:team/app:pull,push&scope=repository:private/x:pull", { headers: basic("ci", await idToken()) });
    assert.equal(reply.status, 200, reply.text());
    assert.deepEqual(accessOf(reply.json<{ token: string }>().token), [{ type: "repository", name: "team/app", actions: ["pull", "push"] }]);
  });

  it("refuses ID tokens of the wrong audience, a claim that does not match, or past expiry", async () => {
    for (const claims of [{ aud: "someone-else" }, { ref: "refs/heads/dev" }, { exp: Math.floor(Date.now() / 1000) - 3600 }]) {
      expectError(await request(as(server, basic("oidc", await idToken(claims))), "GET", "/v2/team/app/tags/list"), 401, "UNAUTHORIZED", JSON.stringify(claims));
    }
  });
});
