/**
 * The S3 scenarios: lading against the reference's s3 driver on the same Ceph gateway (a bucket of
 * their own each), with the issue's targets: pushes 1.5×, pulls 1.0×, manifest operations 3×;
 * lading's memory with many big uploads at once; and one lading replica against three on one bucket.
 *
 * Redirects, per scenario: blob GETs come through the registry (`storage.redirect.disable: true`
 * on both) everywhere but in `s3.pull.redirect`, where both redirect and the client follows: that
 * figure is the gateway's, with the registry's answer in front of it.
 */
import { formatBytes, type Options } from "./options.js";
import type { Scenario } from "./scenarios.js";

const pushTarget = 1.5;
const pullTarget = 1.0;
const manifestTarget = 3;
/** The issue's bound on lading's RSS with `parallelPushes` big uploads at once. */
const parallelRssLimitMiB = 256;

export function s3Scenarios(opts: Options, list: Scenario[]): void {
  const big = formatBytes(opts.bigBytes);
  const c = `concurrency ${opts.concurrency}`;
  const add = (s: Omit<Scenario, "unit" | "per"> & { per?: string }): void => {
    const per = s.per ?? (s.kind === "bytes" ? "GB" : "request");
    list.push({ ...s, per, unit: s.kind === "bytes" ? "MB/s" : `${per === "request" ? "req" : `${per}s`}/s` });
  };
  add({ id: "s3.push.monolithic", workload: "s3-blobs", title: `S3: push ${big} blob, monolithic (POST + one PUT)`, kind: "bytes", target: pushTarget });
  add({ id: "s3.push.chunked", workload: "s3-blobs", title: `S3: push ${big} blob, chunked (${formatBytes(opts.chunkBytes)} PATCHes)`, kind: "bytes", target: pushTarget });
  add({ id: "s3.pull", workload: "s3-blobs", title: `S3: pull ${big} blob through the registry (redirect disabled on both), digest verified`, kind: "bytes", target: pullTarget });
  add({ id: "s3.pull.redirect", workload: "s3-redirect", title: `S3: pull ${big} blob by following the registry's redirect to the gateway (both redirect), digest verified`, kind: "bytes" });

  const small = `${opts.smallBlobs} small blobs (${formatBytes(opts.smallBytes)})`;
  add({ id: "s3.small.push", workload: "s3-small", title: `S3: ${small} pushed, ${c}`, kind: "ops", per: "blob", target: pushTarget });
  add({ id: "s3.small.head", workload: "s3-small", title: `S3: small blobs HEAD, ${c}`, kind: "ops" });
  add({ id: "s3.small.get", workload: "s3-small", title: `S3: small blobs GET through the registry, digest verified, ${c}`, kind: "ops" });

  add({ id: "s3.manifest.put", workload: "s3-manifests", title: `S3: ${opts.manifests} manifests PUT by tag, ${c}`, kind: "ops", target: manifestTarget });
  add({ id: "s3.manifest.get-tag", workload: "s3-manifests", title: `S3: manifest GET by tag, ${c}`, kind: "ops", target: manifestTarget });
  add({ id: "s3.manifest.head", workload: "s3-manifests", title: `S3: manifest HEAD by tag, ${c}`, kind: "ops", target: manifestTarget });
  add({ id: "s3.manifest.get-digest", workload: "s3-manifests", title: `S3: manifest GET by digest, ${c}`, kind: "ops", target: manifestTarget });

  add({ id: "s3.tags.whole", workload: "s3-tags", title: `S3: tag list of ${opts.tags} tags, whole, ${c}`, kind: "ops", target: manifestTarget });
  // The reference ignores `n`: its walk is one request, lading's one per page (no target).
  add({ id: "s3.tags.paginated", workload: "s3-tags", title: `S3: tag list of ${opts.tags} tags, walked n=${opts.tagPage}, ${c}`, kind: "ops", per: "walk" });

  add({
    id: "s3.push.parallel",
    workload: "s3-memory",
    title: `S3: ${opts.parallelPushes} ${formatBytes(opts.parallelBytes)} blobs pushed at once (one streamed PATCH each), lading's memory`,
    kind: "bytes",
    ladingOnly: "a bound on lading's own memory",
    rssLimitMiB: parallelRssLimitMiB,
    concurrentUploads: opts.parallelPushes,
  });

  const mix = `${opts.replicaOps} operations (3 manifest GETs by tag : 1 small-blob push), ${c}`;
  const replicas = "lading replicas on one bucket";
  add({ id: "s3.replicas.one", workload: "s3-replicas", title: `S3: one lading, ${mix}`, kind: "ops", per: "op", ladingOnly: replicas });
  add({
    id: "s3.replicas.three",
    workload: "s3-replicas",
    title: `S3: three lading replicas on the same bucket, round-robin, ${mix}`,
    kind: "ops",
    per: "op",
    ladingOnly: replicas,
    baseline: { id: "s3.replicas.one" },
  });
}
