/**
 * The S3 gateway's own limits, in each round that runs S3 workloads: what the registries on S3 are
 * bounded by, since every request of theirs is one or more of the gateway's. Measured from the
 * bench's process with the workloads' own client (undici, ./http.ts) on presigned URLs made before
 * the clock starts, so that the figure is the gateway's and not an SDK's: the '64 MiB' blobs PUT
 * one at a time and GET streamed into sha256; small-blob-sized objects PUT and GET at the
 * workloads' concurrency. On a bucket of its own, dropped afterwards. (A presigned PUT's payload is
 * unsigned: the registries' SDKs also have the gateway hash what they send, so they are a little
 * further from this limit than their own work explains.)
 */
import { createHash, randomBytes } from "node:crypto";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { s3Client } from "../test/helpers/s3.js";
import { BlobSource } from "./data.js";
import type { Gateway } from "./gateway.js";
import { call, expectStatus, keepAliveAgent, runPool } from "./http.js";
import type { Options } from "./options.js";

export interface GatewaySample {
  /** MB/s. */
  gatewayPut: number;
  /** MB/s, verified. */
  gatewayGet: number;
  /** Per second. */
  gatewaySmallPuts: number;
  gatewaySmallGets: number;
}

const elapsed = (t0: number): number => (performance.now() - t0) / 1000;
const hour = 3600;

export async function probeGateway(gateway: Gateway, opts: Options): Promise<GatewaySample> {
  const Bucket = await gateway.bucket("bench-probe");
  const client = s3Client(gateway.access);
  const agent = keepAliveAgent(opts.concurrency);
  const sign = (method: "GET" | "PUT", Key: string): Promise<string> =>
    getSignedUrl(client, method === "GET" ? new GetObjectCommand({ Bucket, Key }) : new PutObjectCommand({ Bucket, Key }), { expiresIn: hour });
  try {
    const big = Array.from({ length: opts.bigCount }, (_, i) => ({ blob: new BlobSource(opts.bigBytes), key: `big/${i}` }));
    const bigPuts = await Promise.all(big.map(({ key }) => sign("PUT", key)));
    const bigGets = await Promise.all(big.map(({ key }) => sign("GET", key)));
    for (const { blob } of big) blob.digest();
    const bigTotal = opts.bigCount * opts.bigBytes;

    let t0 = performance.now();
    for (const [i, { blob, key }] of big.entries()) {
      const reply = await call({ method: "PUT", url: bigPuts[i]!, agent, headers: { "Content-Length": blob.size }, body: blob.chunks() });
      expectStatus(reply, `gateway PUT of ${key}`, 200);
    }
    const gatewayPut = bigTotal / elapsed(t0) / 1e6;

    t0 = performance.now();
    for (const [i, { blob, key }] of big.entries()) {
      const hash = createHash("sha256");
      const reply = expectStatus(await call({ method: "GET", url: bigGets[i]!, agent, sink: (chunk) => hash.update(chunk) }), `gateway GET of ${key}`, 200);
      if (reply.received !== blob.size || `sha256:${hash.digest("hex")}` !== blob.digest()) throw new Error(`gateway GET of ${key}: wrong bytes`);
    }
    const gatewayGet = bigTotal / elapsed(t0) / 1e6;

    const n = opts.smallBlobs;
    const small = Array.from({ length: n }, () => randomBytes(opts.smallBytes));
    const smallPuts = await Promise.all(small.map((_, i) => sign("PUT", `small/${i}`)));
    const smallGets = await Promise.all(small.map((_, i) => sign("GET", `small/${i}`)));
    t0 = performance.now();
    await runPool(n, opts.concurrency, async (i) => {
      expectStatus(await call({ method: "PUT", url: smallPuts[i]!, agent, headers: { "Content-Length": opts.smallBytes }, body: small[i]! }), `gateway PUT of small/${i}`, 200);
    });
    const gatewaySmallPuts = n / elapsed(t0);
    t0 = performance.now();
    const gets = await runPool(n, opts.concurrency, async (i) => {
      const reply = expectStatus(await call({ method: "GET", url: smallGets[i % n]!, agent }), `gateway GET of small/${i % n}`, 200);
      if (reply.received !== opts.smallBytes) throw new Error(`gateway GET of small/${i % n}: ${reply.received} bytes`);
    }, opts.minSeconds * 1000);
    const gatewaySmallGets = gets / elapsed(t0);
    return { gatewayPut, gatewayGet, gatewaySmallPuts, gatewaySmallGets };
  } finally {
    await agent.close();
    client.destroy();
    await gateway.drop(Bucket);
  }
}
