import { request as httpRequest } from "node:http";
import { LoopbackServer } from "./loopback.js";

/**
 * An HTTP proxy on 127.0.0.1 in front of a registry, counting the requests that pass ("GET
 * /v2/x/blobs/sha256:..."); it can stand for an upstream that is down (503) or gone.
 */
export class CountingProxy {
  readonly seen: string[] = [];
  /** When set, every request is answered with this status, and nothing is forwarded. */
  failWith: number | undefined;
  private readonly server = new LoopbackServer((req, res) => {
    this.seen.push(`${req.method} ${req.url}`);
    if (this.failWith !== undefined) {
      res.writeHead(this.failWith, { "Content-Type": "application/json" }).end(JSON.stringify({ errors: [{ code: "UNAVAILABLE", message: "down for the test" }] }));
      return;
    }
    const forwarded = httpRequest({ host: this.target.hostname, port: this.target.port, method: req.method, path: req.url, headers: { ...req.headers, host: `127.0.0.1:${this.port}` } }, (upstream) => {
      res.writeHead(upstream.statusCode ?? 502, upstream.headers);
      upstream.pipe(res);
    });
    forwarded.on("error", () => res.destroy());
    req.pipe(forwarded);
  });

  private constructor(private readonly target: URL) {}

  get port(): number {
    return this.server.port;
  }

  static async start(target: string): Promise<CountingProxy> {
    const proxy = new CountingProxy(new URL(target));
    await proxy.listen(0);
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Requests seen whose line matches `pattern`. */
  count(pattern: RegExp): number {
    return this.seen.filter((line) => pattern.test(line)).length;
  }

  listen(port = this.server.port): Promise<void> {
    return this.server.listen(port);
  }

  /** Stops listening: the port refuses connections until `listen` again. */
  close(): Promise<void> {
    return this.server.close();
  }
}
