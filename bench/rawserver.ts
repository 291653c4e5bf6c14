/**
 * The bare-Node baseline for the machine-limit probes, run as its own process like the registries:
 * uploads are read and discarded, GET /bytes/N streams N pseudo-random bytes with an exact
 * Content-Length, GET /tiny answers `{}`. It prints {"port":N} once listening.
 */
import { randomBytes } from "node:crypto";
import http from "node:http";

const chunk = 1 << 20;
const pool = randomBytes(9 * chunk);

const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/tiny") {
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": 2 });
    res.end("{}");
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
