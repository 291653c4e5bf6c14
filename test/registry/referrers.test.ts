import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { digestOf, parseDigest } from "../../src/oci/digest.js";
import { mediaTypes } from "../../src/oci/mediatypes.js";
import { Registry } from "../../src/registry/index.js";
import { memoryDriver } from "../../src/storage/index.js";
import { Readable } from "node:stream";

const options = { deleteEnabled: true, readOnly: false, maxSize: 4 << 20, requireIndexChildren: true, requireBlobs: true };

async function pushBlob(registry: Registry, name: string, content: string) {
  const digest = parseDigest(digestOf(content))!;
  const id = await registry.uploads.start(name);
  await registry.uploads.complete(name, id, digest, Readable.from([Buffer.from(content)]), {});
  return { digest: digest.value, size: Buffer.byteLength(content) };
}

describe("referrers", () => {
  it("includes referrers listed under the referrers tag schema, and only those whose subject matches", async () => {
    const registry = new Registry(memoryDriver(), options);
    const name = "app";
    const config = await pushBlob(registry, name, "{}");
    const image = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, config: { mediaType: mediaTypes.ociConfig, ...config }, layers: [] }));
    const subject = await registry.manifests.put(name, { tag: "v1" }, image, mediaTypes.ociManifest, []);
    const subjectDescriptor = { mediaType: mediaTypes.ociManifest, digest: subject.digest.value, size: image.length };
    const artifact = (type: string, withSubject: boolean) =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: mediaTypes.ociManifest,
          artifactType: type,
          config: { mediaType: mediaTypes.ociEmpty, ...config },
          layers: [],
          ...(withSubject ? { subject: subjectDescriptor } : {}),
        }),
      );

    // A store from before the referrers API: the sbom's subject was never indexed, only listed by the
    // client in the tag-schema index. Simulate it by dropping the API's index entry.
    const sbom = artifact("application/vnd.example.sbom", true);
    const sbomStored = await registry.manifests.put(name, { digest: parseDigest(digestOf(sbom))! }, sbom, mediaTypes.ociManifest, []);
    const unrelated = artifact("application/vnd.example.unrelated", false);
    const unrelatedStored = await registry.manifests.put(name, { digest: parseDigest(digestOf(unrelated))! }, unrelated, mediaTypes.ociManifest, []);
    await registry.driver.delete(`/docker/registry/v2/repositories/app/_referrers/sha256/${subject.digest.hex}`);
    assert.deepEqual(await registry.manifests.referrers(name, subject.digest), []);

    const tagIndex = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: mediaTypes.ociIndex,
        manifests: [sbomStored, unrelatedStored].map((m) => ({ mediaType: mediaTypes.ociManifest, digest: m.digest.value, size: m.body.length })),
      }),
    );
    await registry.manifests.put(name, { tag: `sha256-${subject.digest.hex}` }, tagIndex, mediaTypes.ociIndex, []);
    const listed = await registry.manifests.referrers(name, subject.digest);
    assert.deepEqual(listed, [{ mediaType: mediaTypes.ociManifest, digest: sbomStored.digest.value, size: sbom.length, artifactType: "application/vnd.example.sbom" }]);
  });
});
