/**
 * A registry that refuses cross-repository mounts, made from a real one: an HTTP proxy on
 * 127.0.0.1 that strips `mount` and `from` from upload POSTs, so the registry answers 202 with an
 * upload session, exactly as a registry that declines a mount does (distribution-spec: "the
 * registry MAY ... fall back to starting an upload"). Everything else passes through untouched,
 * the Host header included, so the registry's absolute Locations point back at the proxy.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface MountRefusingProxy {
  host: string;
  /** Mount requests turned into plain upload sessions so far. */
  readonly refused: number;
  stop(): Promise<void>;
}

export async function startMountRefusingProxy(upstream: string): Promise<MountRefusingProxy> {
  let refused = 0;
  const [upstreamHost, upstreamPort] = upstream.split(":");
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://proxy");
    if (req.method === "POST" && url.searchParams.has("mount")) {
      url.searchParams.delete("mount");
      url.searchParams.delete("from");
      refused++;
    }
    const forward = http.request(
      { host: upstreamHost, port: Number(upstreamPort), method: req.method, path: `${url.pathname}${url.search}`, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on("error", () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    get refused() {
      return refused;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
