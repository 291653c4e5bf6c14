import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatScope, mergeScopes, parseChallenges, pull, push } from "../../src/client/challenge.js";
import { nextLink } from "../../src/client/listing.js";
import { parseErrorEnvelope, parseRetryAfter, ResponseError } from "../../src/client/errors.js";

describe("WWW-Authenticate", () => {
  it("parses a Bearer challenge with quoted params", () => {
    const [c] = parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"');
    assert.deepEqual(c, { scheme: "bearer", params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:samalba/my-app:pull,push" } });
  });
  it("parses several challenges and unquoted values", () => {
    const all = parseChallenges('Basic realm="Registry Realm", Bearer realm=https://a/token,service=reg');
    assert.deepEqual(all.map((c) => c.scheme), ["basic", "bearer"]);
    assert.equal(all[1]!.params.realm, "https://a/token");
    assert.equal(all[1]!.params.service, "reg");
  });
  it("handles escaped quotes", () => {
    assert.equal(parseChallenges('Basic realm="a \\"b\\""')[0]!.params.realm, 'a "b"');
  });
  it("merges scopes per repository for a mount", () => {
    const scopes = mergeScopes([push("target"), pull("base"), pull("target")]);
    assert.deepEqual(scopes.map(formatScope), ["repository:base:pull", "repository:target:pull,push"]);
  });
});

describe("responses", () => {
  it("follows Link rel=next", () => {
    assert.equal(nextLink('</v2/_catalog?last=b&n=2>; rel="next"'), "/v2/_catalog?last=b&n=2");
    assert.equal(nextLink('<https://x/v2/a/tags/list?n=1&last=v1>; rel=next, <https://x/prev>; rel="prev"'), "https://x/v2/a/tags/list?n=1&last=v1");
    assert.equal(nextLink(undefined), undefined);
  });
  it("parses the OCI error envelope into a typed, retry-aware error", () => {
    const errors = parseErrorEnvelope('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown","detail":{"d":1}}]}');
    const e = new ResponseError("GET", "http://x/v2/a/blobs/b", 404, errors);
    assert.ok(e.hasCode("BLOB_UNKNOWN"));
    assert.equal(e.retryable, false);
    assert.match(e.message, /BLOB_UNKNOWN: blob unknown/);
    assert.equal(new ResponseError("PUT", "u", 503, []).retryable, true);
    assert.equal(new ResponseError("PUT", "u", 429, [], 2000).retryAfterMs, 2000);
    assert.deepEqual(parseErrorEnvelope("<html>"), []);
  });
  it("reads Retry-After as seconds or a date", () => {
    assert.equal(parseRetryAfter("3"), 3000);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4000), 6000);
    assert.equal(parseRetryAfter("soon"), undefined);
  });
});
