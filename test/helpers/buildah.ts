/**
 * buildah with everything private to one test file: image storage (vfs) and run state under the
 * scratch directory, an empty registries.conf, an accept-anything signature policy, and an auth
 * file of its own. That file must exist (buildah fails on every command when REGISTRY_AUTH_FILE
 * names a missing one), and DOCKER_CONFIG is removed: buildah reads $DOCKER_CONFIG/config.json and
 * fails when it is missing. RUN steps use chroot isolation (no OCI runtime or network set up
 * here). Its blob-info cache goes to a scratch /var/lib where possible (./private-var-lib.ts).
 */
import { writeFile } from "node:fs/promises";
import { run, type RunResult } from "./exec.js";
import type { Credentials } from "./containerd.js";
import { privateMountsAllowed, withPrivateVarLib } from "./private-var-lib.js";
import type { Scratch } from "./scratch.js";

export class Buildah {
  private constructor(
    /** REGISTRY_AUTH_FILE: where `buildah login` stores credentials. */
    readonly authfile: string,
    private readonly policy: string,
    private readonly globalArgs: readonly string[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly privateVarLib: string | undefined,
  ) {}

  static async create(scratch: Scratch): Promise<Buildah> {
    const root = await scratch.dir("buildah", "root");
    const runroot = await scratch.dir("buildah", "runroot");
    const tmp = await scratch.dir("buildah", "tmp");
    const authfile = scratch.path("buildah", "auth.json");
    const policy = scratch.path("buildah", "policy.json");
    const registriesConf = scratch.path("buildah", "registries.conf");
    await writeFile(authfile, "{}\n");
    await writeFile(policy, JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
    await writeFile(registriesConf, "");
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      REGISTRY_AUTH_FILE: authfile,
      CONTAINERS_REGISTRIES_CONF: registriesConf,
      BUILDAH_ISOLATION: "chroot",
      TMPDIR: tmp,
    };
    delete env["DOCKER_CONFIG"];
    const varLib = privateMountsAllowed() ? await scratch.dir("buildah", "var-lib") : undefined;
    return new Buildah(authfile, policy, ["--root", root, "--runroot", runroot, "--storage-driver", "vfs"], env, varLib);
  }

  /** `buildah from` an image in a registry (plain HTTP); returns the working container's name. */
  async from(image: string, credentials?: Credentials): Promise<string> {
    const { stdout } = await this.exec(["from", "--tls-verify=false", "--signature-policy", this.policy, ...creds(credentials), image]);
    return stdout.trim().split("\n").pop() ?? "";
  }

  /** Copies `source` (a path on this machine) to `dest` in the container. */
  async copy(container: string, source: string, dest: string): Promise<void> {
    await this.exec(["copy", container, source, dest]);
  }

  /** Commits the container as local image `image`; returns the image ID. */
  async commit(container: string, image: string, format: "oci" | "docker" = "oci"): Promise<string> {
    const { stdout } = await this.exec(["commit", "--signature-policy", this.policy, "--format", format, container, image]);
    return stdout.trim().split("\n").pop() ?? "";
  }

  /** Pushes local `image` to `dest` (default: the same name) over plain HTTP. */
  async push(image: string, dest?: string, credentials?: Credentials): Promise<void> {
    const target = dest === undefined ? [] : [dest];
    await this.exec(["push", "--tls-verify=false", "--signature-policy", this.policy, ...creds(credentials), image, ...target]);
  }

  exec(args: readonly string[], timeoutMs = 90_000): Promise<RunResult> {
    const [cmd, cmdArgs] = withPrivateVarLib(this.privateVarLib, "buildah", [...this.globalArgs, ...args]);
    return run(cmd, cmdArgs, { env: this.env, timeoutMs });
  }
}

function creds(credentials: Credentials | undefined): string[] {
  return credentials === undefined ? [] : ["--creds", `${credentials.user}:${credentials.password}`];
}
