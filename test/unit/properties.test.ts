import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { posix } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { formatReference, parseReference, ReferenceError, type Reference } from "../../src/client/reference.js";
import { algorithms, digestOf, looksLikeDigest, parseDigest, type Algorithm } from "../../src/oci/digest.js";
import { isRegistryError } from "../../src/oci/errors.js";
import { parseManifest, type ParsedManifest } from "../../src/oci/manifest.js";
import { isNondistributable, mediaTypes } from "../../src/oci/mediatypes.js";
import { isValidName, isValidTag, maxNameLength } from "../../src/oci/reference.js";

/*
 * Properties of the parsers that stand between the network and the store: what they accept is
 * always a safe path (names, tags, digests become directories), what they refuse is refused with a
 * registry error and never with a crash, and what they extract from a manifest is what it names.
 */

const runs = { numRuns: 300 };

/** Any string, lone surrogates and control characters included, biased towards the bytes paths care about. */
const anyString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 80 }),
  fc.string({ unit: fc.constantFrom("a", "0", ".", "/", "_", "-", ":", "\\", "%", "\0", "\n", " ", "A", "é"), maxLength: 40 }),
);

const component = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const grammarName = fc
  .array(fc.stringMatching(component), { minLength: 1, maxLength: 6 })
  .map((parts) => parts.join("/"))
  .filter((name) => name.length <= maxNameLength);
const grammarTag = fc.stringMatching(/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/);

/** A name or tag the store may use as path components: relative, normalized, nothing hidden or reserved. */
function isSafePath(value: string): boolean {
  return (
    value !== "" &&
    !value.startsWith("/") &&
    posix.normalize(value) === value &&
    !/[\0\\\s%]/.test(value) &&
    value.split("/").every((part) => part !== "" && part !== "." && part !== ".." && !part.startsWith("_") && !part.startsWith("."))
  );
}

describe("repository names and tags", () => {
  it("accepts every name of the grammar", () => {
    fc.assert(fc.property(grammarName, (name) => isValidName(name)), runs);
  });

  it("accepts only safe relative paths of at most 255 characters as names", () => {
    const candidates = fc.oneof(anyString, grammarName, grammarName.chain((name) => fc.tuple(fc.constant(name), fc.nat(name.length), anyString).map(([n, at, s]) => n.slice(0, at) + s + n.slice(at))));
    fc.assert(
      fc.property(candidates, (name) => {
        if (!isValidName(name)) return;
        assert.ok(name.length <= maxNameLength, name);
        assert.ok(/^[a-z0-9._/-]+$/.test(name), name);
        assert.ok(isSafePath(name), name);
      }),
      runs,
    );
  });

  it("refuses a name with a character outside the grammar anywhere in it", () => {
    const bad = fc.constantFrom("A", "\0", "%", " ", "\\", ":", "@", "\u00e9", "\ud800", "\n", "+");
    fc.assert(fc.property(grammarName, fc.nat(), bad, (name, at, c) => !isValidName(name.slice(0, at % (name.length + 1)) + c + name.slice(at % (name.length + 1)))), runs);
  });

  it("refuses names that walk the tree: empty, dot or dot-dot components, leading or trailing slashes", () => {
    const walk = fc.constantFrom("..", ".", "", "_uploads", "_manifests");
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.stringMatching(component), walk), { minLength: 1, maxLength: 5 }), (parts) => {
        fc.pre(parts.some((p) => p === ".." || p === "." || p === "" || p.startsWith("_")));
        assert.equal(isValidName(parts.join("/")), false, parts.join("/"));
      }),
      runs,
    );
  });

  it("accepts every tag of the grammar, and only single safe path components of at most 128 characters", () => {
    fc.assert(fc.property(grammarTag, (tag) => isValidTag(tag)), runs);
    fc.assert(
      fc.property(fc.oneof(anyString, grammarTag), (tag) => {
        if (!isValidTag(tag)) return;
        assert.ok(tag.length <= 128 && !tag.includes("/") && /^[a-zA-Z0-9_]/.test(tag), tag);
        assert.ok(tag !== "." && tag !== ".." && posix.normalize(tag) === tag, tag);
      }),
      runs,
    );
  });
});

describe("digests", () => {
  const algorithm = fc.constantFrom<Algorithm>("sha256", "sha512");

  it("parses the digest of any bytes back to its parts", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), algorithm, (bytes, alg) => {
        const value = digestOf(bytes, alg);
        const parsed = parseDigest(value);
        assert.ok(parsed, value);
        assert.deepEqual(parsed, { algorithm: alg, hex: createHash(alg).update(bytes).digest("hex"), value });
        assert.ok(looksLikeDigest(value));
      }),
      runs,
    );
  });

  it("never throws, and accepts only `algorithm:hex` of a known algorithm and exact length", () => {
    const near = fc.tuple(algorithm, fc.uint8Array({ maxLength: 8 }), anyString, fc.nat(140)).map(([alg, b, s, at]) => {
      const value = digestOf(b, alg);
      return value.slice(0, at) + s + value.slice(at);
    });
    fc.assert(
      fc.property(fc.oneof(anyString, near), (value) => {
        const parsed = parseDigest(value);
        if (parsed === undefined) return;
        assert.equal(parsed.value, value);
        assert.equal(`${parsed.algorithm}:${parsed.hex}`, value);
        assert.match(parsed.hex, /^[a-f0-9]+$/);
        assert.equal(parsed.hex.length, algorithms[parsed.algorithm]);
        assert.ok(looksLikeDigest(value));
      }),
      runs,
    );
  });

  it("refuses a digest with upper-case hex, a character more or less, or a wrong algorithm", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 32 }), algorithm, fc.constantFrom("upper", "longer", "shorter", "md5", "SHA256", "space"), (bytes, alg, how) => {
        const value = digestOf(bytes, alg);
        const hex = value.slice(alg.length + 1);
        fc.pre(how !== "upper" || /[a-f]/.test(hex));
        const broken = {
          upper: `${alg}:${hex.toUpperCase()}`,
          longer: `${value}0`,
          shorter: value.slice(0, -1),
          md5: `md5:${hex}`,
          SHA256: `${alg.toUpperCase()}:${hex}`,
          space: `${value} `,
        }[how]!;
        assert.equal(parseDigest(broken), undefined, broken);
      }),
      runs,
    );
  });
});

describe("image references (client)", () => {
  const host = fc.oneof(fc.constantFrom("localhost", "localhost:5000", "127.0.0.1:41234", "[::1]:5000", "ghcr.io", "registry.example.com:443"));
  const reference = fc.record(
    { registry: host, repository: grammarName, tag: grammarTag, digest: fc.tuple(fc.uint8Array({ maxLength: 8 }), fc.constantFrom<Algorithm>("sha256", "sha512")).map(([b, a]) => digestOf(b, a)) },
    { requiredKeys: ["registry", "repository"] },
  );

  it("parses what it formats back to the same reference", () => {
    fc.assert(
      fc.property(reference, (ref) => {
        const expected: Reference = ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: "latest" } : { ...ref };
        assert.deepEqual(parseReference(formatReference(ref)), expected);
      }),
      runs,
    );
  });

  it("refuses anything else with a ReferenceError (exit code 2), and what it accepts is a fixpoint", () => {
    const mangled = reference.chain((ref) => fc.tuple(fc.constant(formatReference(ref)), fc.nat(300), anyString).map(([s, at, x]) => s.slice(0, at) + x + s.slice(at)));
    fc.assert(
      fc.property(fc.oneof(anyString, mangled), (input) => {
        let parsed: Reference;
        try {
          parsed = parseReference(input);
        } catch (err) {
          assert.ok(err instanceof ReferenceError && err.exitCode === 2, `${JSON.stringify(input)}: ${String(err)}`);
          return;
        }
        assert.ok(isValidName(parsed.repository), parsed.repository);
        if (parsed.tag !== undefined) assert.ok(isValidTag(parsed.tag), parsed.tag);
        if (parsed.digest !== undefined) assert.ok(parseDigest(parsed.digest), parsed.digest);
        assert.deepEqual(parseReference(formatReference(parsed)), parsed);
      }),
      runs,
    );
  });
});

describe("manifests", () => {
  const digest = fc.tuple(fc.uint8Array({ maxLength: 8 }), fc.constantFrom<Algorithm>("sha256", "sha512")).map(([b, a]) => digestOf(b, a));
  const annotations = fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 });
  const layerType = fc.constantFrom(mediaTypes.ociLayerGzip, mediaTypes.ociLayerZstd, mediaTypes.dockerLayerGzip, mediaTypes.ociLayerNondistributableGzip, mediaTypes.dockerForeignLayerGzip, "application/vnd.example.thing");
  const descriptor = (mediaType: fc.Arbitrary<string>) =>
    fc.oneof(
      fc.record({ mediaType, digest, size: fc.maxSafeNat(), annotations, urls: fc.array(fc.webUrl(), { maxLength: 2 }) }, { requiredKeys: ["mediaType", "digest", "size"] }),
      // Embedded data: size and digest are the data's.
      fc.tuple(mediaType, fc.uint8Array({ maxLength: 16 })).map(([type, bytes]) => ({ mediaType: type, digest: digestOf(bytes), size: bytes.length, data: Buffer.from(bytes).toString("base64") })),
    );
  const image = fc.record(
    {
      schemaVersion: fc.constant(2),
      mediaType: fc.constantFrom(mediaTypes.ociManifest, mediaTypes.dockerManifest),
      config: descriptor(fc.constantFrom(mediaTypes.ociConfig, mediaTypes.dockerConfig, "application/vnd.example.config+json")),
      layers: fc.array(descriptor(layerType), { maxLength: 5 }),
      annotations,
      subject: descriptor(fc.constant(mediaTypes.ociManifest)),
      artifactType: fc.constantFrom("", "application/vnd.example.sbom"),
      unknownField: fc.jsonValue({ maxDepth: 3 }),
    },
    { requiredKeys: ["schemaVersion", "config", "layers"] },
  );
  const index = fc.record(
    {
      schemaVersion: fc.constant(2),
      mediaType: fc.constantFrom(mediaTypes.ociIndex, mediaTypes.dockerManifestList),
      manifests: fc.array(descriptor(fc.constantFrom(mediaTypes.ociManifest, mediaTypes.dockerManifest)), { maxLength: 5 }),
      annotations,
      artifactType: fc.constant("application/vnd.example.set"),
    },
    { requiredKeys: ["schemaVersion", "manifests"] },
  );
  /** How the manifest is sent: the Content-Type of its media type (in any case, with parameters), or none. */
  const contentType = (manifest: { mediaType?: string }) =>
    fc.constantFrom(undefined, manifest.mediaType, manifest.mediaType?.toUpperCase(), manifest.mediaType === undefined ? undefined : `${manifest.mediaType}; charset=utf-8`);

  const values = (digests: ParsedManifest["blobs"]) => digests.map((d) => d.value);

  /** Asserts that parsing throws a registry error with one of the manifest codes, and returns its message. */
  function refused(body: Buffer | string, type: string | undefined, codes = ["MANIFEST_INVALID", "MANIFEST_BLOB_UNKNOWN"]): string {
    try {
      parseManifest(Buffer.from(body), type);
    } catch (err) {
      assert.ok(isRegistryError(err), `not a registry error: ${String(err)}`);
      assert.ok(codes.includes(err.code), `${err.code}: ${err.message}`);
      return err.message;
    }
    assert.fail(`accepted ${Buffer.from(body).toString("utf8").slice(0, 200)}`);
  }

  it("extracts the config and distributable layers of an image, in order", () => {
    fc.assert(
      fc.property(image.chain((m) => fc.tuple(fc.constant(m), contentType(m), fc.constantFrom(0, 2, "\t"))), ([manifest, type, indent]) => {
        const parsed = parseManifest(Buffer.from(JSON.stringify(manifest, null, indent)), type);
        assert.equal(parsed.kind, "image");
        assert.equal(parsed.mediaType, manifest.mediaType ?? mediaTypes.ociManifest);
        assert.deepEqual(values(parsed.blobs), [manifest.config.digest, ...manifest.layers.filter((l) => !isNondistributable(l.mediaType)).map((l) => l.digest)]);
        assert.deepEqual(parsed.manifests, []);
        assert.equal(parsed.subject?.value, manifest.subject?.digest);
        assert.equal(parsed.artifactType, manifest.artifactType || manifest.config.mediaType);
      }),
      runs,
    );
  });

  it("extracts the children of an index, in order", () => {
    fc.assert(
      fc.property(index.chain((m) => fc.tuple(fc.constant(m), contentType(m))), ([manifest, type]) => {
        const parsed = parseManifest(Buffer.from(JSON.stringify(manifest)), type);
        assert.equal(parsed.kind, "index");
        assert.equal(parsed.mediaType, manifest.mediaType ?? mediaTypes.ociIndex);
        assert.deepEqual(values(parsed.manifests), manifest.manifests.map((m) => m.digest));
        assert.deepEqual(parsed.blobs, []);
        assert.equal(parsed.artifactType, manifest.artifactType);
      }),
      runs,
    );
  });

  it("refuses any JSON value or any bytes that are no manifest with a registry error, never a crash", () => {
    const type = fc.constantFrom(undefined, "", mediaTypes.ociManifest, mediaTypes.ociIndex, mediaTypes.dockerManifest, "\u00ff/;;", "application/json");
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
      fc.record({ schemaVersion: fc.jsonValue({ maxDepth: 1 }), mediaType: fc.jsonValue({ maxDepth: 1 }), config: fc.jsonValue({ maxDepth: 2 }), layers: fc.jsonValue({ maxDepth: 2 }), manifests: fc.jsonValue({ maxDepth: 2 }) }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
      fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
    );
    fc.assert(
      fc.property(body, type, (bytes, contentType) => {
        try {
          parseManifest(Buffer.from(bytes), contentType);
        } catch (err) {
          assert.ok(isRegistryError(err) && ["MANIFEST_INVALID", "MANIFEST_BLOB_UNKNOWN"].includes(err.code), String(err));
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("refuses an image whose fields have the wrong types", () => {
    const wrong = fc.oneof(fc.constant(null), fc.boolean(), fc.string({ maxLength: 4 }), fc.double(), fc.constant([]), fc.constant({}));
    const field = fc.constantFrom("schemaVersion", "mediaType", "config", "layers", "config.size", "config.digest", "config.mediaType", "layer.size", "layer.digest", "annotations.value");
    fc.assert(
      fc.property(image, field, wrong, (manifest, where, value) => {
        const broken = structuredClone(manifest) as Record<string, unknown> & typeof manifest;
        const layer = broken.layers[0];
        switch (where) {
          case "schemaVersion":
          case "config":
          case "layers":
            fc.pre(value !== 2 && !(where === "layers" && Array.isArray(value)) && !(where === "config" && typeof value === "object" && value !== null && !Array.isArray(value)));
            (broken as Record<string, unknown>)[where] = value;
            break;
          case "mediaType":
            fc.pre(typeof value !== "string");
            broken.mediaType = value as never;
            break;
          case "config.size":
          case "config.digest":
          case "config.mediaType":
            fc.pre(where !== "config.size" || !Number.isSafeInteger(value) || (value as number) < 0);
            fc.pre(where !== "config.digest" || typeof value !== "string" || !looksLikeDigest(value));
            fc.pre(where !== "config.mediaType" || typeof value !== "string" || value === "");
            (broken.config as Record<string, unknown>)[where.slice(7)] = value;
            break;
          case "layer.size":
          case "layer.digest":
            fc.pre(layer !== undefined && (where !== "layer.size" || !Number.isSafeInteger(value) || (value as number) < 0));
            fc.pre(where !== "layer.digest" || typeof value !== "string" || !looksLikeDigest(value));
            (layer as unknown as Record<string, unknown>)[where.slice(6)] = value;
            break;
          case "annotations.value":
            fc.pre(typeof value !== "string");
            broken.annotations = { key: value as never };
            break;
        }
        refused(JSON.stringify(broken), manifest.mediaType, ["MANIFEST_INVALID"]);
      }),
      runs,
    );
  });

  it("refuses a descriptor naming a sha256 or sha512 digest of the wrong length as invalid, not unknown", () => {
    fc.assert(
      fc.property(image, fc.constantFrom("sha256", "sha512"), fc.integer({ min: 1, max: 127 }), (manifest, alg, length) => {
        fc.pre(length !== algorithms[alg as Algorithm]);
        const broken = { ...manifest, config: { ...manifest.config, digest: `${alg}:${"a".repeat(length)}` } };
        delete (broken.config as { data?: string }).data;
        refused(JSON.stringify(broken), manifest.mediaType, ["MANIFEST_INVALID"]);
      }),
      runs,
    );
  });

  it("refuses duplicate keys, which parsers resolve differently, at any depth", () => {
    fc.assert(
      fc.property(image, fc.nat(), fc.jsonValue({ maxDepth: 1 }), (manifest, pick, value) => {
        const text = JSON.stringify(manifest);
        // Every key of the text, found by position: `"key":` right after `{` or `,`.
        const keys = [...text.matchAll(/[{,]("(?:[^"\\]|\\.)*"):/g)];
        const key = keys[pick % keys.length]!;
        const at = key.index + 1;
        const duplicated = `${text.slice(0, at)}${key[1]}:${JSON.stringify(value)},${text.slice(at)}`;
        assert.match(refused(duplicated, manifest.mediaType, ["MANIFEST_INVALID"]), /duplicate/);
      }),
      runs,
    );
  });

  it("refuses deep nesting without parsing it, and accepts unknown fields nested a few levels", () => {
    fc.assert(
      fc.property(image, fc.integer({ min: 65, max: 200_000 }), fc.constantFrom("[", '{"a":'), (manifest, depth, open) => {
        const close = open === "[" ? "]" : "}";
        const deep = `${JSON.stringify(manifest).slice(0, -1)},"deep":${open.repeat(depth)}1${close.repeat(depth)}}`;
        assert.match(refused(deep, manifest.mediaType, ["MANIFEST_INVALID"]), /deep|nest/);
      }),
      { numRuns: 30 },
    );
    fc.assert(
      fc.property(image, fc.integer({ min: 1, max: 20 }), (manifest, depth) => {
        const nested = `${JSON.stringify(manifest).slice(0, -1)},"nested":${"[".repeat(depth)}${"]".repeat(depth)}}`;
        assert.equal(parseManifest(Buffer.from(nested), manifest.mediaType).kind, "image");
      }),
      runs,
    );
  });

  it("refuses bytes that are not UTF-8 anywhere in the body", () => {
    const invalid = fc.constantFrom([0xff], [0xc0, 0xae], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]);
    fc.assert(
      fc.property(image, invalid, fc.nat(), (manifest, bytes, pick) => {
        const text = JSON.stringify({ ...manifest, annotations: { note: "XXXX" } });
        const at = text.indexOf("XXXX") + (pick % 5);
        const body = Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from(bytes), Buffer.from(text.slice(at))]);
        assert.match(refused(body, manifest.mediaType, ["MANIFEST_INVALID"]), /UTF-8/);
      }),
      runs,
    );
  });
});
