/**
 * Seed 000 as its author wrote it, with the real Docker engine: `docker build` a base, then two
 * sections FROM it in parallel (one with the legacy builder, one with BuildKit), `docker push` all
 * three to lading, `lading merge` them, then `docker pull` the merged image and `docker run` it:
 * every section's files are there, and its Env and PATH are the sections' merged. The busybox root
 * filesystem imported into docker is the only starting point: nothing comes from the internet.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startTestServer, type TestServer } from "../api/support.js";
import { DOCKER, useDockerEngine } from "../helpers/docker.js";
import { requireTools } from "../helpers/exec.js";
import { Scratch } from "../helpers/scratch.js";
import { lading } from "./merge-support.js";

requireTools(DOCKER, "dockerd", "busybox");

const engine = await useDockerEngine();

/** A section: a tool under /opt/NAME/bin, put on PATH and named in an ENV of its own. */
const dockerfile = (from: string, name: string, env: string) => `FROM ${from}
RUN mkdir -p /opt/${name}/bin && printf '#!/bin/sh\\necho ${name} works\\n' > /opt/${name}/bin/${name} && chmod +x /opt/${name}/bin/${name}
RUN echo ${name} > /opt/${name}/owner.txt
ENV ${env}
ENV PATH=/opt/${name}/bin:$PATH
`;

describe("seed 000 with docker build, docker push, lading merge, docker pull and docker run", { timeout: 300_000 }, () => {
  let scratch: Scratch;
  let server: TestServer | undefined;
  let config: string;
  const host = () => `127.0.0.1:${server!.port}`;

  before(async () => {
    scratch = await Scratch.create("e2e-seed-docker");
    server = await startTestServer();
    config = await scratch.dir("docker-config");
  });
  after(async () => {
    await server?.close();
    await scratch?.cleanup();
  });

  it("merges sections built FROM the base in parallel into one image docker runs", async () => {
    const busybox = `${host()}/seed/busybox:1`;
    await engine.importBusybox(busybox);
    const base = `${host()}/seed/base:latest`;
    const baseContext = await scratch.dir("base");
    await writeFile(join(baseContext, "Dockerfile"), `FROM ${busybox}\nRUN mkdir -p /etc/base && echo base > /etc/base/release\nENV BASE_VERSION=1\nWORKDIR /src\n`);
    await engine.build(baseContext, base, { builder: "legacy" });
    await engine.dockerOk(["push", base], { config });

    const sections = [
      { name: "maven", env: "MAVEN_HOME=/opt/maven", builder: "legacy" as const },
      { name: "golang", env: "GOPATH=/go", builder: "buildkit" as const },
    ];
    await Promise.all(
      sections.map(async (s) => {
        const context = await scratch.dir(s.name);
        await writeFile(join(context, "Dockerfile"), dockerfile(base, s.name, s.env));
        await engine.build(context, `${host()}/seed/${s.name}:latest`, { builder: s.builder });
        await engine.dockerOk(["push", `${host()}/seed/${s.name}:latest`], { config });
      }),
    );

    const target = `${host()}/seed/target:latest`;
    const merged = await lading("merge", base, ...sections.map((s) => `${host()}/seed/${s.name}:latest`), "--tag", target);
    assert.equal(merged.code, 0, merged.stderr);
    const digest = /→ \S+ \((sha256:[0-9a-f]{64})\)/.exec(merged.stdout)?.[1];
    assert.ok(digest, merged.stdout);
    // Docker's builders and lading's mounts: no layer bytes moved.
    assert.match(merged.stdout, /: 0 B of layers moved$/m);
    const validated = await lading("validate", target);
    assert.equal(validated.code, 0, validated.stdout + validated.stderr);

    // Nothing of the sections is left in docker: the run below can only use what it pulls.
    for (const ref of [target, ...sections.map((s) => `${host()}/seed/${s.name}:latest`)]) await engine.docker(["rmi", "--force", ref], { config });
    await engine.dockerOk(["pull", target], { config });
    const { stdout: repoDigests } = await engine.dockerOk(["image", "inspect", "--format", "{{json .RepoDigests}}", target], { config });
    assert.deepEqual(JSON.parse(repoDigests), [`${host()}/seed/target@${digest}`]);

    const script = "cat /etc/base/release /opt/maven/owner.txt /opt/golang/owner.txt; maven; golang; echo PATH=$PATH; echo MAVEN_HOME=$MAVEN_HOME GOPATH=$GOPATH BASE_VERSION=$BASE_VERSION; pwd";
    const { stdout } = await engine.dockerOk(["run", "--rm", "--network", "none", target, "sh", "-c", script], { config });
    const lines = stdout.trim().split("\n");
    assert.deepEqual(lines.slice(0, 5), ["base", "maven", "golang", "maven works", "golang works"]);
    const path = lines.find((l) => l.startsWith("PATH="))!.slice(5).split(":");
    for (const dir of ["/opt/maven/bin", "/opt/golang/bin", "/usr/bin", "/bin"]) assert.ok(path.includes(dir), `PATH ${path.join(":")} has ${dir}`);
    assert.ok(lines.includes("MAVEN_HOME=/opt/maven GOPATH=/go BASE_VERSION=1"), stdout);
    assert.equal(lines.at(-1), "/src");
  });
});
