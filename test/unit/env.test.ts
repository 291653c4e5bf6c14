import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { joinPath, mergeEnv, parseEnv } from "../../src/image/env.js";

const basePath = "/usr/local/bin:/usr/bin:/bin";

describe("Env merge", () => {
  it("parses KEY=value with = in values and bare keys", () => {
    assert.deepEqual([...parseEnv(["A=1=2", "B", "C="])], [["A", "1=2"], ["B", ""], ["C", ""]]);
  });
  it("joins PATH: prepends in front (later first), appends at the end, no duplicates", () => {
    let merged = joinPath(basePath, basePath, `${basePath}:/usr/share/maven/bin`);
    assert.equal(merged, `${basePath}:/usr/share/maven/bin`);
    merged = joinPath(merged, basePath, `/go/bin:/usr/local/go/bin:${basePath}`);
    assert.equal(merged, `/go/bin:/usr/local/go/bin:${basePath}:/usr/share/maven/bin`);
    assert.equal(joinPath(merged, basePath, `/go/bin:${basePath}`), merged);
  });
  it("treats a PATH without any base entry as prepended", () => {
    assert.equal(joinPath(basePath, basePath, "/opt/x"), `/opt/x:${basePath}`);
    assert.equal(joinPath("", "", "/opt/x:/opt/y"), "/opt/x:/opt/y");
  });
  it("merges by key: inherited values do not override, later sections win, conflicts reported", () => {
    const base = [`PATH=${basePath}`, "LANG=C", "FOO=base"];
    const { env, conflicts } = mergeEnv(base, [
      { label: "maven", env: [`PATH=${basePath}:/maven/bin`, "LANG=C", "FOO=maven", "MAVEN_HOME=/m"] },
      { label: "golang", env: [`PATH=/go/bin:${basePath}`, "LANG=C", "FOO=golang", "GOPATH=/go"] },
      { label: "node", env: [`PATH=${basePath}`, "LANG=C", "FOO=base"] },
    ]);
    assert.deepEqual(env, [`PATH=/go/bin:${basePath}:/maven/bin`, "LANG=C", "FOO=golang", "MAVEN_HOME=/m", "GOPATH=/go"]);
    assert.deepEqual(conflicts, [{ key: "FOO", values: [{ section: "maven", value: "maven" }, { section: "golang", value: "golang" }] }]);
  });
  it("does not report two sections setting the same value", () => {
    assert.deepEqual(mergeEnv([], [{ label: "a", env: ["X=1"] }, { label: "b", env: ["X=1"] }]).conflicts, []);
  });
});
