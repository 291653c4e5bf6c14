import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyChanges } from "../../src/image/config-changes.js";
import { mergeConfigs } from "../../src/image/config-merge.js";
import { historyMismatch } from "../../src/image/history.js";
import { checkLineage, lineageProblems } from "../../src/image/lineage.js";
import { canonicalBytes } from "../../src/image/types.js";
import { image } from "./fixtures.js";

const P = "/usr/bin:/bin";
const base = image("base", ["a", { empty: "ENV" }, "b"], { Env: [`PATH=${P}`], Cmd: ["sh"], Labels: { base: "1" }, ExposedPorts: { "22/tcp": {} } });
const maven = image("maven", ["a", { empty: "ENV" }, "b", "m", { empty: "ENV M" }], {
  Env: [`PATH=${P}:/maven/bin`, "MAVEN_HOME=/m"], Cmd: ["mvn"], Labels: { base: "1", tool: "maven" }, ExposedPorts: { "22/tcp": {}, "8080/tcp": {} }, WorkingDir: "/src",
});
const golang = image("golang", ["a", { empty: "ENV" }, "b", { empty: "ENV G" }, "g1", "g2"], {
  Env: [`PATH=/go/bin:${P}`, "GOPATH=/go"], Cmd: ["go"], Labels: { base: "1", tool: "golang" }, Volumes: { "/go": {} }, WorkingDir: "/src", User: "gopher",
});
const created = "2024-01-01T00:00:00Z";

describe("config merge", () => {
  const { config, conflicts } = mergeConfigs(base.config, [
    { label: "maven", config: maven.config },
    { label: "golang", config: golang.config },
  ], created);

  it("stacks diff_ids and history in section order, keeping them aligned", () => {
    assert.deepEqual(config.rootfs.diff_ids, [...base.config.rootfs.diff_ids, maven.config.rootfs.diff_ids[2], ...golang.config.rootfs.diff_ids.slice(2)]);
    assert.deepEqual(config.history!.map((h) => h.created_by), ["ADD a", "ENV", "ADD b", "ADD m", "ENV M", "ENV G", "ADD g1", "ADD g2"]);
    assert.equal(historyMismatch(config), undefined);
    assert.equal(config.created, created);
  });
  it("merges Env with PATH joined", () => {
    assert.deepEqual(config.config!.Env, [`PATH=/go/bin:${P}:/maven/bin`, "MAVEN_HOME=/m", "GOPATH=/go"]);
  });
  it("unions Labels, ExposedPorts and Volumes", () => {
    assert.deepEqual(config.config!.Labels, { base: "1", tool: "golang" });
    assert.deepEqual(Object.keys(config.config!.ExposedPorts!).sort(), ["22/tcp", "8080/tcp"]);
    assert.deepEqual(config.config!.Volumes, { "/go": {} });
  });
  it("takes Cmd, WorkingDir, User from the last section that set them and reports disagreements", () => {
    assert.deepEqual(config.config!.Cmd, ["go"]);
    assert.equal(config.config!.WorkingDir, "/src");
    assert.equal(config.config!.User, "gopher");
    const fields = conflicts.map((c) => `${c.field}:${c.winner}`).sort();
    assert.deepEqual(fields, ["Cmd:golang", "Labels.tool:golang"]);
  });
  it("is deterministic: same inputs, same bytes", () => {
    const again = mergeConfigs(base.config, [{ label: "maven", config: maven.config }, { label: "golang", config: golang.config }], created);
    assert.deepEqual(canonicalBytes(again.config), canonicalBytes(config));
  });
  it("keeps the base's value when no section changes a field", () => {
    const only = mergeConfigs(base.config, [{ label: "x", config: image("x", ["a", { empty: "ENV" }, "b", "x"], base.config.config).config }], created);
    assert.deepEqual(only.config.config!.Cmd, ["sh"]);
    assert.deepEqual(only.conflicts, []);
  });
  it("applies overrides", () => {
    const c = applyChanges(config, { env: { GOPATH: undefined, NEW: "1" }, entrypoint: ["/init"], labels: { tool: undefined }, exposedPorts: ["9000"] });
    assert.deepEqual(c.config!.Env, [`PATH=/go/bin:${P}:/maven/bin`, "MAVEN_HOME=/m", "NEW=1"]);
    assert.deepEqual(c.config!.Entrypoint, ["/init"]);
    assert.deepEqual(c.config!.Labels, { base: "1" });
    assert.ok("9000/tcp" in c.config!.ExposedPorts!);
  });
});

describe("lineage", () => {
  it("accepts sections built on the base", () => {
    checkLineage(base, [maven, golang]);
  });
  it("reports the first mismatched layer, diff_id and history entry with index and values", () => {
    const stranger = image("stranger", ["a", { empty: "ENV" }, "z", "q"]);
    const problems = lineageProblems(base, stranger).join("\n");
    assert.match(problems, /stranger layer 1 is sha256:[0-9a-f]+ where base has sha256:[0-9a-f]+: it was not built FROM base/);
    assert.match(problems, /diff_ids\[1\]/);
    assert.match(problems, /history\[2\] is "ADD z" where base's is "ADD b"/);
  });
  it("says it in one short line that names roles apart from repositories, and what to do", () => {
    const named = { ...image("base", ["a"]), label: "section base" };
    const message = (() => {
      try {
        checkLineage({ ...base, label: "the base" }, [named]);
      } catch (err) {
        return (err as Error).message;
      }
      return "";
    })();
    assert.match(message, /^section base has 1 layer where the base has \d+: it was not built FROM the base \(and \d+ more mismatch(es)?\); each section must be built FROM the base image/);
    assert.ok(message.length < 300, message);
    assert.ok(!message.includes("{"), "no JSON in the message");
  });
  it("refuses other platforms and mixed media-type families", () => {
    const arm = image("arm", ["a", { empty: "ENV" }, "b", "x"]);
    arm.config.architecture = "arm64";
    assert.match(lineageProblems(base, arm)[0]!, /linux\/arm64 but base is linux\/amd64/);
    const docker = image("docker", ["a", { empty: "ENV" }, "b", "x"], {}, "application/vnd.docker.distribution.manifest.v2+json");
    assert.match(lineageProblems(base, docker)[0]!, /docker is a Docker image .* but base is an OCI one/);
    assert.throws(() => checkLineage(base, [maven, arm]), /arm is linux\/arm64/);
  });
});
