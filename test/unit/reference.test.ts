import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { apiHost, formatReference, isLoopback, parseReference } from "../../src/client/reference.js";

describe("parseReference", () => {
  it("reads a local registry with port and tag", () => {
    assert.deepEqual(parseReference("localhost:5000/base:latest"), { registry: "localhost:5000", repository: "base", tag: "latest" });
  });
  it("defaults to docker.io, library/ and latest", () => {
    assert.deepEqual(parseReference("ubuntu"), { registry: "docker.io", repository: "library/ubuntu", tag: "latest" });
    assert.deepEqual(parseReference("bitnami/redis:7"), { registry: "docker.io", repository: "bitnami/redis", tag: "7" });
    assert.equal(parseReference("index.docker.io/ubuntu").repository, "library/ubuntu");
  });
  it("keeps a digest, with or without a tag", () => {
    const d = `sha256:${"a".repeat(64)}`;
    assert.deepEqual(parseReference(`ghcr.io/o/r@${d}`), { registry: "ghcr.io", repository: "o/r", digest: d });
    assert.deepEqual(parseReference(`127.0.0.1:5000/a/b:v1@${d}`), { registry: "127.0.0.1:5000", repository: "a/b", tag: "v1", digest: d });
  });
  it("treats a first component without . or : as a path, and localhost as a host", () => {
    assert.equal(parseReference("foo/bar").registry, "docker.io");
    assert.equal(parseReference("localhost/bar").registry, "localhost");
  });
  it("rejects malformed references with a usage exit code", () => {
    for (const bad of ["", "UPPER/case", "a:b:c", "x@sha256:zz", "host:5000/repo:bad tag"]) {
      assert.throws(() => parseReference(bad), (err: Error & { exitCode?: number }) => err.exitCode === 2, bad);
    }
  });
  it("formats back and finds the API host", () => {
    assert.equal(formatReference(parseReference("localhost:5000/base")), "localhost:5000/base:latest");
    assert.equal(apiHost("docker.io"), "registry-1.docker.io");
  });
  it("knows loopback registries", () => {
    assert.ok(isLoopback("localhost:5000"));
    assert.ok(isLoopback("127.0.0.1:41234"));
    assert.ok(isLoopback("[::1]:5000"));
    assert.ok(!isLoopback("registry.example.com"));
    assert.ok(!isLoopback("10.0.0.1:5000"));
  });
});
