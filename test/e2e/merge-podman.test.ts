/**
 * The merged image runs: a base holding Debian's static busybox, two sections each adding a file,
 * merged by lading inside lading (and inside docker-registry), then `podman run` of the result
 * prints a file from the base and from each section, and sees the merged Env. Needs root,
 * podman, runc and busybox-static (../../shared/notes/real-clients.md); these tests do not skip.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { requireTools } from "../helpers/exec.js";
import { Podman } from "../helpers/podman.js";
import { Scratch } from "../helpers/scratch.js";
import { skopeoCopy } from "./merge-podman-support.js";
import { lading, startDockerRegistry, startLadingRegistry, type TestRegistry } from "./merge-support.js";
import { addLayer, configure, initLayout, newImage } from "../helpers/umoci.js";

function suite(name: string, start: (dir: string) => Promise<TestRegistry>): void {
  describe(`podman runs an image lading merged in ${name}`, { timeout: 300_000 }, () => {
    let scratch: Scratch;
    let reg: TestRegistry;
    let podman: Podman;
    const ref = (repo: string) => `${reg.host}/${repo}`;

    before(async () => {
      requireTools("podman", "runc", "umoci", "skopeo");
      // podman refuses a runroot path over 50 characters: keep the scratch name short.
      scratch = await Scratch.create("mp");
      const layout = scratch.path("layout");
      const work = await scratch.dir("work");
      await initLayout(layout);
      await newImage(layout, "empty");
      await addLayer(layout, "empty", "base", { "bin/busybox": { data: readFileSync("/bin/busybox"), mode: 0o755 }, "etc/base.txt": "from the base\n" }, work);
      await configure(layout, "base", { env: ["PATH=/bin", "ROLE=base"], entrypoint: ["/bin/busybox"] });
      await addLayer(layout, "base", "maven", { "opt/maven/hello.txt": "from the maven section\n" }, work);
      await configure(layout, "maven", { env: ["MAVEN_HOME=/opt/maven"] });
      await addLayer(layout, "base", "golang", { "opt/go/hello.txt": "from the golang section\n" }, work);
      await configure(layout, "golang", { env: ["GOPATH=/opt/go", "PATH=/opt/go/bin:/bin"] });
      reg = await start(await scratch.dir("registry"));
      for (const tag of ["base", "maven", "golang"]) await skopeoCopy(scratch, `oci:${layout}:${tag}`, `docker://${ref(`run/${tag}:latest`)}`);
      podman = await Podman.create(scratch);
    });
    after(async () => {
      await reg?.stop();
      await scratch?.cleanup();
    });

    it("prints a file from the base and from each section, with the merged Env", async () => {
      const merged = await lading("merge", ref("run/base:latest"), ref("run/maven:latest"), ref("run/golang:latest"), "--tag", ref("run/merged:latest"), "--json");
      assert.equal(merged.code, 0, merged.stderr);
      assert.equal((JSON.parse(merged.stdout) as { bytesMoved: number }).bytesMoved, 0);
      const out = await podman.runContainer(ref("run/merged:latest"), ["cat", "/etc/base.txt", "/opt/maven/hello.txt", "/opt/go/hello.txt"]);
      assert.equal(out, "from the base\nfrom the maven section\nfrom the golang section\n");
      const env = (await podman.runContainer(ref("run/merged:latest"), ["env"])).split("\n");
      for (const e of ["ROLE=base", "MAVEN_HOME=/opt/maven", "GOPATH=/opt/go", "PATH=/opt/go/bin:/bin"]) assert.ok(env.includes(e), `${e} in ${env.join(" ")}`);
    });
  });
}

suite("lading", startLadingRegistry);
suite("docker-registry", (dir) => startDockerRegistry(join(dir, "reference")));
