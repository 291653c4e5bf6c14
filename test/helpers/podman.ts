/**
 * podman with everything private to one test file: image storage (vfs) and run state under the
 * scratch directory, its own containers.conf and registries.conf, an empty auth file. Settings
 * for `podman run` on this kind of machine (../../shared/notes/real-clients.md): runc, not crun,
 * cgroupfs, no network, explicit ulimits. Its blob-info cache goes to a scratch /var/lib where
 * possible (./private-var-lib.ts): podman 4.3 keeps it in /var/lib/containers/cache despite --root.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { run, type RunResult } from "./exec.js";
import { privateMountsAllowed, withPrivateVarLib } from "./private-var-lib.js";
import type { Scratch } from "./scratch.js";

const CONTAINERS_CONF = `[containers]
netns = "none"
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
`;

export class Podman {
  private pushes = 0;

  private constructor(
    private readonly dir: string,
    private readonly globalArgs: readonly string[],
    private readonly authfile: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly privateVarLib: string | undefined,
  ) {}

  /** `registries`: the registries.conf it reads (mirrors, say); none by default. */
  static async create(scratch: Scratch, registries = ""): Promise<Podman> {
    const root = await scratch.dir("podman", "root");
    const runroot = await scratch.dir("podman", "runroot");
    const tmp = await scratch.dir("podman", "tmp");
    const authfile = scratch.path("podman", "auth.json");
    const containersConf = scratch.path("podman", "containers.conf");
    const registriesConf = scratch.path("podman", "registries.conf");
    await writeFile(authfile, "{}\n");
    await writeFile(containersConf, CONTAINERS_CONF);
    await writeFile(registriesConf, registries);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      CONTAINERS_CONF: containersConf,
      CONTAINERS_REGISTRIES_CONF: registriesConf,
      TMPDIR: tmp,
    };
    delete env["REGISTRY_AUTH_FILE"];
    const globalArgs = ["--root", root, "--runroot", runroot, "--tmpdir", tmp, "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file"];
    const varLib = privateMountsAllowed() ? await scratch.dir("podman", "var-lib") : undefined;
    return new Podman(scratch.path("podman"), globalArgs, authfile, env, varLib);
  }

  /** Pulls `ref` (host:port/repo:tag or @digest) and returns the image ID podman prints. */
  async pull(ref: string): Promise<string> {
    const { stdout } = await this.exec(["pull", "--authfile", this.authfile, "--tls-verify=false", ref]);
    return stdout.trim().split("\n").pop() ?? "";
  }

  /** Pushes a local image to `dest`; returns the manifest digest podman wrote. */
  async push(image: string, dest: string, extra: readonly string[] = []): Promise<string> {
    const digestfile = join(this.dir, `push-${++this.pushes}.digest`);
    await this.exec(["push", "--authfile", this.authfile, "--tls-verify=false", "--digestfile", digestfile, ...extra, image, dest]);
    return (await readFile(digestfile, "utf8")).trim();
  }

  /** Creates a local manifest list and adds each of `refs` (docker:// references) to it. */
  async createManifestList(name: string, refs: readonly string[]): Promise<void> {
    await this.exec(["manifest", "create", name]);
    for (const ref of refs) await this.exec(["manifest", "add", "--authfile", this.authfile, "--tls-verify=false", name, ref]);
  }

  /** `podman manifest push --all`; returns the digest of the list it wrote. */
  async pushManifestList(name: string, dest: string, extra: readonly string[] = []): Promise<string> {
    const digestfile = join(this.dir, `push-${++this.pushes}.digest`);
    await this.exec(["manifest", "push", "--all", "--authfile", this.authfile, "--tls-verify=false", "--digestfile", digestfile, ...extra, name, dest]);
    return (await readFile(digestfile, "utf8")).trim();
  }

  async tag(image: string, newName: string): Promise<void> {
    await this.exec(["tag", image, newName]);
  }

  async removeImage(image: string): Promise<void> {
    await this.exec(["rmi", "--force", image]);
  }

  /** `podman image inspect`, first element. */
  async inspect(image: string): Promise<PodmanImage> {
    const { stdout } = await this.exec(["image", "inspect", image]);
    const [first] = JSON.parse(stdout) as PodmanImage[];
    if (first === undefined) throw new Error(`podman image inspect ${image}: empty answer`);
    return first;
  }

  /** Mounts an image's root filesystem (vfs: a plain directory) and returns its path. */
  async mount(image: string): Promise<string> {
    return (await this.exec(["image", "mount", image])).stdout.trim();
  }

  async unmount(image: string): Promise<void> {
    await this.exec(["image", "unmount", image]);
  }

  /** Runs a container from `image` and returns what it printed. */
  async runContainer(image: string, args: readonly string[] = []): Promise<string> {
    const flags = [
      "--rm",
      "--runtime", "runc",
      "--network", "none",
      "--ulimit", "nofile=1024:1024",
      "--ulimit", "nproc=1024:1024",
      "--authfile", this.authfile,
      "--tls-verify=false",
    ];
    return (await this.exec(["run", ...flags, image, ...args], 120_000)).stdout;
  }

  exec(args: readonly string[], timeoutMs = 90_000): Promise<RunResult> {
    const [cmd, cmdArgs] = withPrivateVarLib(this.privateVarLib, "podman", [...this.globalArgs, ...args]);
    return run(cmd, cmdArgs, { env: this.env, timeoutMs });
  }
}

export interface PodmanImage {
  Id: string;
  Digest: string;
  RepoTags: string[];
  RepoDigests: string[];
  Architecture: string;
  Os: string;
  Config: { Env?: string[]; Entrypoint?: string[]; Cmd?: string[] };
  RootFS: { Type: string; Layers: string[] };
}
