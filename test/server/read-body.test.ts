import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { readBody, type Context } from "../../src/server/context.js";
import { RegistryError } from "../../src/oci/errors.js";

/** A request whose body arrives in `chunks`; the rest of the context is not read by readBody. */
function contextOf(chunks: Buffer[], length?: number): Context {
  const req = Readable.from(chunks) as unknown as IncomingMessage;
  req.headers = length === undefined ? {} : { "content-length": String(length) };
  return { req, bytesIn: 0 } as unknown as Context;
}

const tooLarge = () => new RegistryError("MANIFEST_INVALID", "too large", { status: 413 });

// A reader that stops listening waits for ever: the tests below end in 5 s, failed, instead.
describe("readBody", () => {
  it("joins the chunks into a buffer of its own, not a slice of Node's shared pool", async () => {
    // Small buffers from Buffer.from share 8 KiB pool chunks: a kept slice would keep its chunk.
    const chunks = [Buffer.from("{\"schemaVersion\":"), Buffer.from("2}")];
    assert.ok(chunks[0]!.buffer.byteLength > chunks[0]!.length, "the test's chunks come from the pool");
    const ctx = contextOf(chunks);
    const body = await readBody(ctx, 1024, tooLarge);
    assert.equal(body.toString(), "{\"schemaVersion\":2}");
    assert.equal(body.buffer.byteLength, body.length, "the body's memory is exactly its bytes");
    assert.equal(ctx.bytesIn, body.length);
  });

  it("refuses a body over the limit, declared or sent", async () => {
    await assert.rejects(readBody(contextOf([Buffer.alloc(10)], 2048), 1024, tooLarge), /too large/);
    await assert.rejects(readBody(contextOf([Buffer.alloc(600), Buffer.alloc(600)]), 1024, tooLarge), /too large/);
  });

  it("reads the rest of a body it refuses, so that the refusal can be answered", { timeout: 5000 }, async () => {
    const ctx = contextOf([Buffer.alloc(600), Buffer.alloc(600), Buffer.alloc(600)]);
    const ended = new Promise((resolve) => ctx.req.once("end", resolve));
    await assert.rejects(readBody(ctx, 1024, tooLarge), /too large/);
    await ended;
  });

  it("refuses a body whose request closes before it ends, as a premature close", { timeout: 5000 }, async () => {
    const req = new Readable({ read() {} }) as unknown as IncomingMessage;
    req.headers = {};
    const reading = readBody({ req, bytesIn: 0 } as unknown as Context, 1024, tooLarge);
    req.push(Buffer.from("{\"schema"));
    setImmediate(() => req.destroy());
    await assert.rejects(reading, { code: "ERR_STREAM_PREMATURE_CLOSE" });
  });

  it("passes on an error of the request", { timeout: 5000 }, async () => {
    const req = new Readable({ read() {} }) as unknown as IncomingMessage;
    req.headers = {};
    const reading = readBody({ req, bytesIn: 0 } as unknown as Context, 1024, tooLarge);
    setImmediate(() => req.destroy(Object.assign(new Error("aborted"), { code: "ECONNRESET" })));
    await assert.rejects(reading, { code: "ECONNRESET" });
  });
});
