import { accessSync, constants } from "node:fs";
import { ConfigError } from "../config/load.js";
import type { Config } from "../config/schema.js";
import type { UpstreamSettings } from "./mirror.js";

/** Docker Hub's API host is not the name its images carry. */
const namespaceOf = (url: URL): string => (url.host === "registry-1.docker.io" || url.host === "index.docker.io" ? "docker.io" : url.host);

/**
 * The upstreams a configuration mirrors: lading.mirror.upstreams, each under its prefix, and
 * registry:2's `proxy` section, which mirrors one upstream for every repository.
 */
export function upstreamsOf(config: Config): UpstreamSettings[] {
  const mirror = config.lading.mirror;
  const upstreams: UpstreamSettings[] = mirror.upstreams.map((u, i) => {
    const url = new URL(u.url);
    if (u.authfile !== undefined) {
      try {
        accessSync(u.authfile, constants.R_OK);
      } catch (err) {
        throw new ConfigError(`lading.mirror.upstreams.${i}.authfile: ${u.authfile} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    }
    return {
      prefix: u.prefix,
      url,
      namespace: u.namespace ?? namespaceOf(url),
      ...(u.username === undefined ? {} : { username: u.username }),
      ...(u.password === undefined ? {} : { password: u.password }),
      ...(u.authfile === undefined ? {} : { authfile: u.authfile }),
      tagTtlMs: u.tagttl ?? mirror.tagttl,
      ttlMs: u.ttl,
    };
  });
  const proxy = config.proxy;
  if (proxy?.remoteurl !== undefined) {
    const url = new URL(proxy.remoteurl);
    upstreams.push({
      prefix: "",
      url,
      namespace: namespaceOf(url),
      ...(proxy.username === undefined ? {} : { username: proxy.username }),
      ...(proxy.password === undefined ? {} : { password: proxy.password }),
      tagTtlMs: mirror.tagttl,
      ttlMs: proxy.ttl,
    });
  }
  return upstreams;
}
