import { Command, Option } from "commander";
import { ConfigError, loadConfig } from "../config/load.js";
import { startServer, type RunningServer } from "../server/app.js";

/** `lading serve`: runs the registry until SIGTERM or SIGINT, then drains in-flight requests. */
export function serveCommand(): Command {
  return new Command("serve")
    .description("Run the registry server")
    .argument("[config]", "config file (the same as --config; registry:2's `registry serve config.yml` form)")
    .option("-c, --config <file>", "YAML config file, in registry:2's config.yml format (env: LADING_CONFIG)")
    .option("-l, --listen <host:port>", "address to listen on (http.addr; default 127.0.0.1:5000)")
    .option("-s, --storage <dir>", "filesystem storage root holding docker/registry/v2 (storage.filesystem.rootdirectory; default ./data)")
    .addOption(new Option("--log-level <level>", "log level (log.level)").choices(["trace", "debug", "info", "warn", "error", "silent"]))
    .option("--read-only", "refuse every write (storage.maintenance.readonly.enabled)")
    .option("--no-delete", "refuse deletes (storage.delete.enabled: false)")
    .option("--no-ui", "serve no web UI (lading.ui.enabled: false)")
    .option("--sparse", "accept manifests naming blobs or manifests the repository lacks (lading.manifests.sparse; the OCI conformance suite's sparse data)")
    .option("--htpasswd <file>", "turn access control on: users from this htpasswd file of bcrypt entries (auth.htpasswd.path)")
    .addOption(new Option("--auth <mode>", "basic: credentials on every request; token: lading issues bearer tokens at /token (auth.token)").choices(["basic", "token"]))
    .option("--tls-cert <file>", "serve HTTPS with this certificate (PEM; http.tls.certificate)")
    .option("--tls-key <file>", "the certificate's private key (PEM; http.tls.key)")
    .option("--insecure-http", "with access control on, serve plain HTTP on a non-loopback address anyway (behind a TLS proxy; lading.auth.insecurehttp)")
    .addHelpText(
      "after",
      "\nSettings come from defaults, then the config file, then LADING_* environment variables\n(LADING_HTTP_ADDR sets http.addr, LADING_STORAGE_DELETE_ENABLED sets storage.delete.enabled, ...),\nthen these flags.",
    )
    .action(async (positional: string | undefined, flags: ServeFlags) => {
      const file = flags.config ?? positional ?? process.env.LADING_CONFIG;
      const overrides: Record<string, unknown> = {
        "http.addr": flags.listen,
        "log.level": flags.logLevel,
        "storage.maintenance.readonly.enabled": flags.readOnly,
        "storage.delete.enabled": flags.delete === false ? false : undefined,
        "lading.ui.enabled": flags.ui === false ? false : undefined,
        "lading.manifests.sparse": flags.sparse,
        "auth.htpasswd.path": flags.htpasswd,
        "auth.token": flags.auth === "token" ? {} : undefined,
        "http.tls.certificate": flags.tlsCert,
        "http.tls.key": flags.tlsKey,
        "lading.auth.insecurehttp": flags.insecureHttp,
      };
      if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) throw new ConfigError("--tls-cert and --tls-key go together");
      if (flags.storage !== undefined) overrides["storage.filesystem.rootdirectory"] = flags.storage;
      const env = { ...process.env };
      delete env.LADING_CONFIG;
      // Signals are handled from the start: one that arrives while starting stops the server once it is up.
      let running: Promise<RunningServer> | undefined;
      const stop = () => {
        if (!running) process.exit(0);
        running.then((server) => server.close()).then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
      const config = await loadConfig({ ...(file === undefined ? {} : { file }), env, overrides });
      if (flags.auth === "basic" && config.auth?.token !== undefined) throw new ConfigError("--auth basic, but the configuration names a token service (auth.token)");
      if (flags.auth !== undefined && config.auth === undefined) throw new ConfigError(`--auth ${flags.auth} needs users: add --htpasswd FILE`);
      running = startServer(config);
      await running;
    });
}

interface ServeFlags {
  config?: string;
  listen?: string;
  storage?: string;
  logLevel?: string;
  readOnly?: boolean;
  delete: boolean;
  ui: boolean;
  sparse?: boolean;
  htpasswd?: string;
  auth?: "basic" | "token";
  tlsCert?: string;
  tlsKey?: string;
  insecureHttp?: boolean;
}
