/**
 * The bare-Node baseline for the machine-limit probes, run as its own process like the registries:
 * uploads are read and discarded, GET /bytes/N streams N pseudo-random bytes with an exact
 * Content-Length, GET /tiny answers `{}`, and GET /tags/list answers the tag workload's list (its
 * count is the first argument), whole or paginated with `n`, `last` and a `Link` to the next page,
 * each page serialized once and then sent as it is. It prints {"port":N} once listening.
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import { tagNames } from "./data.js";

const chunk = 1 << 20;
const pool = randomBytes(9 * chunk);
const tags = tagNames(Number(process.argv[2] ?? 0));
const pages = new Map<string, { body: Buffer; link: string | undefined }>();

/** The page a tag-list URL names, as the registry API defines it. */
function tagPage(url: string): { body: Buffer; link: string | undefined } {
  const q = url.indexOf("?");
  const query = new URLSearchParams(q < 0 ? "" : url.slice(q + 1));
  const last = query.get("last");
  const from = last === null ? 0 : tags.findIndex((tag) => tag > last);
  const n = query.has("n") ? Number(query.get("n")) : tags.length;
  const to = from < 0 ? 0 : Math.min(tags.length, from + n);
  const body = Buffer.from(JSON.stringify({ name: "raw", tags: from < 0 ? [] : tags.slice(from, to) }));
  const link = from >= 0 && to < tags.length && n > 0 ? `</tags/list?n=${n}&last=${tags[to - 1]!}>; rel="next"` : undefined;
  return { body, link };
}

const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/tiny") {
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": 2 });
    res.end("{}");
    return;
  }
  if (req.method === "GET" && req.url?.startsWith("/tags/list")) {
    let page = pages.get(req.url);
    if (page === undefined) pages.set(req.url, (page = tagPage(req.url)));
    const headers: http.OutgoingHttpHeaders = { "Content-Type": "application/json", "Content-Length": page.body.length };
    if (page.link !== undefined) headers.Link = page.link;
    res.writeHead(200, headers);
    res.end(page.body);
    return;
  }
  const wanted = /^\/bytes\/(\d+)$/.exec(req.url ?? "");
  if (req.method === "GET" && wanted) {
    const size = Number(wanted[1]);
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": size });
    let sent = 0;
    const pump = (): void => {
      while (sent < size) {
        const n = Math.min(chunk, size - sent);
        const offset = ((sent / chunk) * 104_729) % (8 * chunk);
        sent += n;
        if (!res.write(pool.subarray(offset, offset + n))) {
          res.once("drain", pump);
          return;
        }
      }
      res.end();
    };
    pump();
    return;
  }
  req.once("end", () => {
    res.writeHead(201, { "Content-Length": 0 });
    res.end();
  });
  req.resume();
});
server.keepAliveTimeout = 65_000;
server.requestTimeout = 0;
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  if (address !== null && typeof address !== "string") process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
});
process.once("SIGTERM", () => process.exit(0));
