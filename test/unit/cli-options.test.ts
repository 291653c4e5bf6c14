import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Transport } from "../../src/client/transport.js";
import { insecureFrom } from "../../src/cli/options.js";

describe("--insecure and --insecure-registry", () => {
  const scheme = (registry: string, insecure: boolean | string[]) => new Transport(registry, { insecure, anonymous: true }).base.protocol;

  it("speak HTTPS by default, except to loopback", () => {
    assert.equal(scheme("registry.example.com", insecureFrom({})), "https:");
    assert.equal(scheme("127.0.0.1:5000", insecureFrom({})), "http:");
    assert.equal(scheme("localhost:5000", insecureFrom({})), "http:");
  });
  it("--insecure: plain HTTP to every registry the command names", () => {
    assert.equal(insecureFrom({ insecure: true }), true);
    assert.equal(scheme("registry.example.com", insecureFrom({ insecure: true })), "http:");
  });
  it("--insecure-registry: plain HTTP to the registries listed only", () => {
    const flags = insecureFrom({ insecureRegistry: ["build.internal:5000"] });
    assert.equal(scheme("build.internal:5000", flags), "http:");
    assert.equal(scheme("build.internal", flags), "https:");
    assert.equal(scheme("registry.example.com", flags), "https:");
  });
});
