/**
 * skopeo, configured so that nothing from the machine leaks into a test and nothing of a test
 * leaks out: a private, empty auth file, no signature policy lookups, no registries.conf, plain
 * HTTP to 127.0.0.1, and temporary files under the test's scratch directory. Its blob-info cache
 * goes to a scratch /var/lib where possible (./private-var-lib.ts).
 */
import { writeFile } from "node:fs/promises";
import { run, type RunResult } from "./exec.js";
import { privateMountsAllowed, withPrivateVarLib } from "./private-var-lib.js";
import type { Scratch } from "./scratch.js";

export class Skopeo {
  private constructor(
    private readonly authfile: string,
    private readonly globalArgs: readonly string[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly privateVarLib: string | undefined,
  ) {}

  static async create(scratch: Scratch): Promise<Skopeo> {
    await scratch.dir("skopeo");
    const authfile = scratch.path("skopeo", "auth.json");
    const policy = scratch.path("skopeo", "policy.json");
    const registriesConf = scratch.path("skopeo", "registries.conf");
    const registriesD = await scratch.dir("skopeo", "registries.d");
    const tmp = await scratch.dir("skopeo", "tmp");
    await writeFile(authfile, "{}\n");
    await writeFile(policy, JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
    await writeFile(registriesConf, "");
    const env: NodeJS.ProcessEnv = { ...process.env, CONTAINERS_REGISTRIES_CONF: registriesConf, TMPDIR: tmp };
    delete env["REGISTRY_AUTH_FILE"];
    const varLib = privateMountsAllowed() ? await scratch.dir("skopeo", "var-lib") : undefined;
    return new Skopeo(authfile, ["--policy", policy, "--registries.d", registriesD, "--tmpdir", tmp], env, varLib);
  }

  /** `skopeo copy` over plain HTTP; `extra` goes before the two references (e.g. --all, --format v2s2). */
  copy(src: string, dest: string, extra: readonly string[] = []): Promise<RunResult> {
    return this.exec("copy", [
      "--authfile", this.authfile,
      "--src-tls-verify=false",
      "--dest-tls-verify=false",
      "--retry-times", "0",
      ...extra,
      src,
      dest,
    ]);
  }

  /** The manifest exactly as the registry serves it (`inspect --raw`). */
  async rawManifest(ref: string): Promise<Buffer> {
    return (await this.exec("inspect", ["--authfile", this.authfile, "--tls-verify=false", "--raw", ref])).raw;
  }

  /** The config blob exactly as the registry serves it (`inspect --raw --config`). */
  async rawConfig(ref: string): Promise<Buffer> {
    return (await this.exec("inspect", ["--authfile", this.authfile, "--tls-verify=false", "--raw", "--config", ref])).raw;
  }

  /** skopeo's summary of an image: Digest, RepoTags, Architecture, Os, Layers, Env... */
  async inspect(ref: string): Promise<InspectOutput> {
    const { stdout } = await this.exec("inspect", ["--authfile", this.authfile, "--tls-verify=false", ref]);
    return JSON.parse(stdout) as InspectOutput;
  }

  async listTags(repoRef: string): Promise<string[]> {
    const { stdout } = await this.exec("list-tags", ["--authfile", this.authfile, "--tls-verify=false", repoRef]);
    return (JSON.parse(stdout) as { Tags: string[] | null }).Tags ?? [];
  }

  async delete(ref: string): Promise<void> {
    await this.exec("delete", ["--authfile", this.authfile, "--tls-verify=false", ref]);
  }

  private exec(subcommand: string, args: readonly string[]): Promise<RunResult> {
    const [cmd, cmdArgs] = withPrivateVarLib(this.privateVarLib, "skopeo", [...this.globalArgs, subcommand, ...args]);
    return run(cmd, cmdArgs, { env: this.env });
  }
}

export interface InspectOutput {
  Name: string;
  Digest: string;
  RepoTags: string[];
  Architecture: string;
  Os: string;
  Layers: string[];
  Env: string[] | null;
}
