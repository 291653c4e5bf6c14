import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseMergeFile } from "../../src/image/merge-file.js";
import { sectionLabels } from "../../src/image/merge.js";
import { parseReference } from "../../src/client/reference.js";

describe("merge.yaml", () => {
  it("reads base, sections, target, timestamp and config overrides", () => {
    const m = parseMergeFile(`
base: localhost:5000/base:latest
sections:
  - localhost:5000/maven:latest
  - localhost:5000/golang:latest
target: localhost:5000/target:latest
timestamp: 2024-01-01T00:00:00Z
config:
  env: { JAVA_OPTS: "-Xmx1g", PORT: 8080 }
  entrypoint: ["/bin/sh", "-c"]
  labels: { team: build }
  exposedPorts: [8080]
`);
    assert.equal(m.base, "localhost:5000/base:latest");
    assert.deepEqual(m.sections, ["localhost:5000/maven:latest", "localhost:5000/golang:latest"]);
    assert.equal(m.timestamp, "2024-01-01T00:00:00Z");
    assert.deepEqual(m.config, { env: { JAVA_OPTS: "-Xmx1g", PORT: "8080" }, entrypoint: ["/bin/sh", "-c"], labels: { team: "build" }, exposedPorts: ["8080"] });
  });
  it("accepts env as a KEY=value list", () => {
    const m = parseMergeFile("base: b\nsections: [s]\ntarget: t\nconfig:\n  env: [A=1, B=x=y]\n");
    assert.deepEqual(m.config?.env, { A: "1", B: "x=y" });
  });
  it("explains what is wrong, with the field's path", () => {
    assert.throws(() => parseMergeFile("base: b\ntarget: t\n"), /sections: Required/);
    assert.throws(() => parseMergeFile("base: b\nsections: []\ntarget: t\n"), /sections: Array must contain at least 1/);
    assert.throws(() => parseMergeFile("base: b\nsections: [s]\ntarget: t\nconfig: { entrypiont: [x] }\n"), /config: Unrecognized key.*entrypiont/);
    assert.throws(() => parseMergeFile("base: [unclosed"), /not valid YAML/);
  });
});

describe("section labels", () => {
  it("uses the repository's last component, or the full reference when that is ambiguous", () => {
    const refs = ["r:5000/maven:3", "r:5000/team/golang", "r:5000/a/node", "r:5000/b/node"].map(parseReference);
    assert.deepEqual(sectionLabels(refs), ["maven", "golang", "r:5000/a/node:latest", "r:5000/b/node:latest"]);
  });
  it("never calls a section base, the name the base's layers go by in the report", () => {
    assert.deepEqual(sectionLabels(["r:5000/team/base:2", "r:5000/maven"].map(parseReference)), ["r:5000/team/base:2", "maven"]);
  });
});
