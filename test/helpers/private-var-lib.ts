/**
 * skopeo and podman (as root) keep a blob-info cache in /var/lib/containers/cache whatever
 * --root says, and it decides which blobs they try to mount across repositories. No flag or
 * variable moves it, so where the kernel allows it they run in a private mount namespace with a
 * scratch directory bound over /var/lib: the machine's cache is neither read nor written, and
 * runs do not depend on what earlier runs did. Everything else they use (storage, run state,
 * config, auth) is passed explicitly and lives elsewhere. Where private mounts are not allowed
 * they run as they are, sharing the machine's cache, which only changes which mounts they try.
 */
import { spawnSync } from "node:child_process";

const BIND_AND_EXEC = 'dir=$1; shift; mount --bind "$dir" /var/lib && exec "$@"';

let allowed: boolean | undefined;

/** Whether this process may make a private mount namespace (root with CAP_SYS_ADMIN, util-linux unshare). */
export function privateMountsAllowed(): boolean {
  allowed ??=
    spawnSync("unshare", ["--mount", "--propagation", "private", "sh", "-c", BIND_AND_EXEC, "sh", "/var/lib", "true"], { stdio: "ignore" })
      .status === 0;
  return allowed;
}

/** The command line that runs `cmd args` with `varLib` in place of /var/lib, or as is when `varLib` is undefined. */
export function withPrivateVarLib(varLib: string | undefined, cmd: string, args: readonly string[]): [string, string[]] {
  if (varLib === undefined) return [cmd, [...args]];
  return ["unshare", ["--mount", "--propagation", "private", "sh", "-c", BIND_AND_EXEC, "sh", varLib, cmd, ...args]];
}
