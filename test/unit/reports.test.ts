/** What the image commands print: one convention for written images, paths one way, no empty headings. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatInspection } from "../../src/image/inspect.js";
import { formatMergeReport, type MergeReport } from "../../src/image/merge-report.js";

const digest = `sha256:${"a".repeat(64)}`;

describe("reports", () => {
  it("inspect says when an image sets no config field, and lists the ones it sets", () => {
    const image = { platform: "linux/amd64", manifestDigest: digest, mediaType: "m", configDigest: digest, created: undefined, size: 1, layers: [], history: [] };
    const bare = formatInspection({ digest, mediaType: "m", platforms: ["linux/amd64"], images: [{ ...image, config: { Env: [] } }] });
    assert.match(bare, /^ {2}config: \(none set\)$/m);
    const set = formatInspection({ digest, mediaType: "m", platforms: ["linux/amd64"], images: [{ ...image, config: { User: "app" } }] });
    assert.match(set, /^ {2}config:\n {4}User {9}app$/m);
  });

  it("merge ends with the line every written image gets, and names paths as the JSON does", () => {
    const report: MergeReport = {
      target: "r/t:1", digest, mediaType: "m", dryRun: false, bytesMoved: 0, created: "2024-01-01T00:00:00Z", base: "r/base:1",
      sections: [{ label: "a", reference: "r/a:1" }, { label: "b", reference: "r/b:1" }],
      platforms: [{
        platform: "linux/amd64", manifestDigest: digest, configDigest: digest, configSize: 10, configAction: "uploaded", layers: [], configConflicts: [], notes: ["section b: a note"],
        conflicts: [{ kind: "overlap", path: "/shared.txt", sections: ["a", "b"], message: "/shared.txt is written by a and b; b's version wins" }],
      }],
    };
    const text = formatMergeReport(report);
    assert.equal(text.split("\n").at(-1), `merged r/base:1 + r/a:1, r/b:1 → r/t:1 (${digest}): 0 B of layers moved`);
    assert.match(text, /conflict \(overlap\): \/shared\.txt is written/);
    assert.match(text, /note: section b: a note/);
    assert.equal(report.platforms[0]!.conflicts[0]!.path, "/shared.txt");
  });
});
