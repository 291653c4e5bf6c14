/**
 * The web UI in Debian's Chromium: browse, search and page through repositories, sort a
 * repository's tags, open an index, one of its images and its referrers; on a narrow screen, in
 * dark mode, with the keyboard. The run saves screenshots of the main pages in test-results/ui/.
 */
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { descriptor, digestOf, mt, pushBlob, pushImage, pushManifest, type TestServer, startTestServer } from "../api/support.js";
import { launchChromium } from "../helpers/browser.js";
import { as, basic, passwords, startAuthServer, type AuthServer } from "../auth/support.js";

const shots = "test-results/ui";

describe("the web UI in a browser", { timeout: 300_000 }, () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let amdDigest: string;

  before(async () => {
    await mkdir(shots, { recursive: true });
    server = await startTestServer();
    // 120 repositories: three pages of 50.
    for (let i = 0; i < 119; i++) await pushImage(server, `fleet/ship-${String(i).padStart(3, "0")}`, "1.0");
    const config = (architecture: string) =>
      Buffer.from(JSON.stringify({ architecture, os: "linux", config: { Env: ["PATH=/usr/bin", "PORT=8080"], Entrypoint: ["/bin/cargo"], Labels: { "org.opencontainers.image.title": "cargo" } }, rootfs: { type: "layers", diff_ids: [] }, history: [{ created_by: "COPY cargo /bin/cargo" }] }));
    const amd = await pushImage(server, "harbor/cargo", "amd64", { configBytes: config("amd64"), layers: 3 });
    const arm = await pushImage(server, "harbor/cargo", "arm64", { configBytes: config("arm64"), layers: 2 });
    amdDigest = amd.digest;
    await pushManifest(server, "harbor/cargo", "2.1", {
      schemaVersion: 2,
      mediaType: mt.ociIndex,
      manifests: [
        { mediaType: mt.ociManifest, digest: amd.digest, size: amd.body.length, platform: { os: "linux", architecture: "amd64" } },
        { mediaType: mt.ociManifest, digest: arm.digest, size: arm.body.length, platform: { os: "linux", architecture: "arm64" } },
      ],
    }, mt.ociIndex);
    const empty = Buffer.from("{}");
    await pushBlob(server, "harbor/cargo", empty);
    const signature = {
      schemaVersion: 2,
      mediaType: mt.ociManifest,
      artifactType: "application/vnd.dev.cosign.signature",
      config: descriptor("application/vnd.oci.empty.v1+json", empty),
      layers: [descriptor("application/vnd.oci.empty.v1+json", empty)],
      subject: { mediaType: mt.ociManifest, digest: amd.digest, size: amd.body.length },
    };
    await pushManifest(server, "harbor/cargo", digestOf(JSON.stringify(signature)), signature, mt.ociManifest);
    for (let i = 0; i < 60; i++) await pushManifest(server, "harbor/cargo", `build-${i}`, amd.body, mt.ociManifest);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("pageerror", (err) => assert.fail(`the page threw: ${err.message}`));
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  const rows = () => page.locator("tbody tr");
  /** Waits for the table's first cell to read `text` (the page re-renders once the answer is in). */
  const firstCell = (text: string) => page.locator("tbody tr:first-child td:first-child", { hasText: new RegExp(`^${text.replace(/[.]/g, "\\.")}$`) }).waitFor();

  it("lists repositories, pages through them and searches them", async () => {
    await page.goto(`${server.url}/`);
    await page.getByRole("heading", { name: "Repositories" }).waitFor();
    await rows().first().waitFor();
    assert.equal(await rows().count(), 50);
    assert.equal(await page.locator(".count").textContent(), "120 repositories");
    assert.match((await page.locator(".pager").textContent()) ?? "", /page 1 of 3/);
    await page.screenshot({ path: `${shots}/repositories.png` });
    await page.getByRole("link", { name: "next →" }).click();
    await page.locator(".pager", { hasText: "page 2 of 3" }).waitFor();
    assert.equal(await rows().first().locator("td").first().textContent(), "fleet/ship-050");
    await page.getByLabel("Search").fill("cargo");
    await page.locator(".count", { hasText: "1 repository" }).waitFor();
    assert.deepEqual(await rows().locator("td:first-child").allTextContents(), ["harbor/cargo"]);
    assert.match(page.url(), /#\/\?q=cargo$/, "the search is in the address, to share and to go back to");
    await page.getByLabel("Search").fill("no-such-thing");
    await page.getByText("No repository's name contains “no-such-thing”.").waitFor();
  });

  it("sorts a repository's tags and pages through them", async () => {
    await page.goto(`${server.url}/#/r/harbor/cargo`);
    await page.locator(".count", { hasText: "63 tags" }).waitFor();
    const firstTag = () => rows().first().locator("td").first().textContent();
    assert.equal(await firstTag(), "2.1");
    await page.screenshot({ path: `${shots}/repository.png` });
    await page.getByRole("link", { name: "Size" }).click();
    await page.locator("th[aria-sort=descending]", { hasText: "Size" }).waitFor();
    await firstCell("2.1");
    await page.getByRole("link", { name: "Tag" }).click();
    await page.locator("th[aria-sort=ascending]", { hasText: "Tag" }).waitFor();
    await page.getByRole("link", { name: "Tag ▲" }).click();
    await page.locator("th[aria-sort=descending]", { hasText: "Tag" }).waitFor();
    await firstCell("build-9");
    await page.getByRole("link", { name: "next →" }).click();
    await page.locator(".pager", { hasText: "page 2 of 2" }).waitFor();
    assert.equal(await rows().count(), 13);
  });

  it("opens an index, one of its platforms, its config, history and referrers", async () => {
    await page.goto(`${server.url}/#/r/harbor/cargo`);
    await page.getByRole("link", { name: "2.1", exact: true }).click();
    await page.getByRole("heading", { name: "Platforms" }).waitFor();
    assert.deepEqual(await page.locator("section", { hasText: "Platforms" }).locator("tbody td:first-child").allTextContents(), ["linux/amd64", "linux/arm64"]);
    assert.match((await page.locator("code", { hasText: "docker pull" }).textContent()) ?? "", new RegExp(`^docker pull 127\\.0\\.0\\.1:${server.port}/harbor/cargo:2\\.1$`));
    await page.screenshot({ path: `${shots}/index.png`, fullPage: true });
    await page.getByRole("link", { name: "linux/amd64" }).click();
    await page.getByRole("heading", { name: "Config" }).waitFor();
    assert.ok(page.url().endsWith(encodeURIComponent(amdDigest)), page.url());
    await page.getByText("PORT=8080").waitFor();
    await page.getByText("COPY cargo /bin/cargo").waitFor();
    assert.equal(await page.locator("section", { hasText: "Layers" }).locator("tbody tr").count(), 3);
    await page.locator(".tree").getByRole("link", { name: "application/vnd.dev.cosign.signature" }).waitFor();
    await page.screenshot({ path: `${shots}/image.png`, fullPage: true });
  });

  it("says what went wrong for a repository that is not there", async () => {
    await page.goto(`${server.url}/#/r/no/such/repository`);
    await page.getByRole("alert").filter({ hasText: "repository no/such/repository not known to registry" }).waitFor();
  });

  it("fits a narrow screen, reads in dark mode and works from the keyboard", async () => {
    const phone = await browser.newPage({ viewport: { width: 375, height: 740 }, colorScheme: "dark" });
    try {
      await phone.goto(`${server.url}/#/r/harbor/cargo/-/amd64`);
      await phone.getByRole("heading", { name: "Config" }).waitFor();
      const fits = await phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth");
      assert.ok(fits, "nothing but the tables' own boxes scrolls sideways");
      const background = await phone.evaluate<string>("getComputedStyle(document.body).backgroundColor");
      const [r, g, b] = (background.match(/\d+/g) ?? []).map(Number);
      assert.ok(r! + g! + b! < 150, `a dark background in dark mode: ${background}`);
      await phone.screenshot({ path: `${shots}/image-narrow-dark.png`, fullPage: true });
      await phone.goto(`${server.url}/`);
      await phone.locator("tbody tr").first().waitFor();
      // The header's links first (lading, Storage), then the search box.
      for (let i = 0; i < 3; i++) await phone.keyboard.press("Tab");
      assert.equal(await phone.evaluate("document.activeElement?.id"), "search");
      await phone.keyboard.type("cargo");
      await phone.locator(".count", { hasText: "1 repository" }).waitFor();
      await phone.keyboard.press("Tab");
      await phone.keyboard.press("Enter");
      await phone.locator("h1", { hasText: "harbor/cargo" }).waitFor();
    } finally {
      await phone.close();
    }
  });
});

describe("the web UI with access control, in a browser", { timeout: 300_000 }, () => {
  let server: AuthServer;
  let browser: Browser;

  before(async () => {
    await mkdir(shots, { recursive: true });
    server = await startAuthServer("basic");
    const carol = as(server, basic("carol", passwords.carol!));
    await pushImage(carol, "public/base", "1");
    const app = await pushImage(carol, "team/app", "1");
    await pushManifest(carol, "team/app", "doomed", app.body, mt.ociManifest);
    await pushImage(carol, "team/app", "old");
    await pushImage(carol, "secret/vault", "1");
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  async function signedIn(user: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("pageerror", (err) => assert.fail(`the page threw: ${err.message}`));
    await page.goto(`${server.url}/`);
    await page.getByRole("link", { name: "Sign in" }).click();
    await page.getByLabel("User name").fill(user);
    await page.getByLabel("Password").fill(passwords[user]!);
    if (user === "alice") await page.screenshot({ path: `${shots}/sign-in.png` });
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator(".who", { hasText: user }).waitFor();
    return page;
  }

  const names = (page: Page) => page.locator("tbody td:first-child").allTextContents();

  it("shows the anonymous only what they may pull, and each user what they may", async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}/`);
    await page.locator(".count", { hasText: "1 repository" }).waitFor();
    assert.deepEqual(await names(page), ["public/base"]);
    const bad = await browser.newPage();
    await bad.goto(`${server.url}/#/sign-in`);
    await bad.getByLabel("User name").fill("alice");
    await bad.getByLabel("Password").fill("not her password");
    await bad.getByRole("button", { name: "Sign in" }).click();
    await bad.getByRole("alert").filter({ hasText: "wrong user name or password" }).waitFor();
    const bob = await signedIn("bob");
    await bob.locator(".count", { hasText: "2 repositories" }).waitFor();
    assert.deepEqual(await names(bob), ["public/base", "team/app"]);
    await bob.goto(`${server.url}/#/r/team/app`);
    await bob.locator(".count", { hasText: "3 tags" }).waitFor();
    assert.equal(await bob.getByRole("button", { name: /^delete tag/ }).count(), 0, "bob may pull, not delete");
    await bob.getByRole("button", { name: "Sign out" }).click();
    await bob.getByRole("link", { name: "Sign in" }).waitFor();
    await bob.locator(".count", { hasText: "1 repository" }).waitFor();
    const cookies = await bob.context().cookies();
    assert.deepEqual(cookies.map((c) => c.name), [], "signed out: no session cookie left");
    await Promise.all([page.close(), bad.close(), bob.close()]);
  });

  it("deletes a tag and a manifest after asking, for a user who may", async () => {
    const alice = await signedIn("alice");
    const [cookie] = await alice.context().cookies();
    assert.deepEqual([cookie?.name, cookie?.httpOnly, cookie?.sameSite, cookie?.path], ["lading_session", true, "Strict", "/api/v1/"]);
    assert.equal(await alice.evaluate("document.cookie"), "", "the page's scripts cannot read the session");
    await alice.goto(`${server.url}/#/r/team/app`);
    await alice.locator(".count", { hasText: "3 tags" }).waitFor();
    await alice.getByRole("button", { name: "delete tag doomed" }).click();
    const dialog = alice.getByRole("dialog");
    await dialog.getByText("Delete tag doomed from team/app?").waitFor();
    await alice.screenshot({ path: `${shots}/confirm-delete.png` });
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "hidden" });
    assert.equal(await alice.locator(".count").textContent(), "3 tags", "cancelled: nothing deleted");
    await alice.getByRole("button", { name: "delete tag doomed" }).click();
    await dialog.waitFor();
    await alice.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    await alice.getByRole("button", { name: "delete tag doomed" }).click();
    await dialog.getByRole("button", { name: "Delete doomed" }).click();
    await alice.locator(".count", { hasText: "2 tags" }).waitFor();
    assert.deepEqual(await names(alice), ["1", "old"]);
    await alice.getByRole("link", { name: "old", exact: true }).click();
    await alice.getByRole("button", { name: "Delete this manifest" }).click();
    await alice.getByRole("dialog").getByRole("button", { name: "Delete manifest" }).click();
    await alice.locator(".count", { hasText: "1 tag" }).waitFor();
    assert.deepEqual(await names(alice), ["1"]);
    await alice.close();
  });

  it("shows an admin the storage used and what a collection would free, and nobody else", async () => {
    const bob = await signedIn("bob");
    assert.equal(await bob.getByRole("link", { name: "Storage" }).count(), 0);
    await bob.close();
    const carol = await signedIn("carol");
    await carol.getByRole("link", { name: "Storage" }).click();
    await carol.getByText("No estimate yet").waitFor();
    await carol.getByRole("button", { name: "Estimate now" }).click();
    await carol.getByText("A collection would free").waitFor();
    assert.match((await carol.locator(".facts dd").first().textContent()) ?? "", /^[\d.]+ (B|KB|MB) in \d+ blobs$/);
    await carol.screenshot({ path: `${shots}/storage.png` });
    await carol.close();
  });
});
