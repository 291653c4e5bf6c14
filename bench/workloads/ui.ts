/**
 * The web UI in Debian's Chromium (playwright-core), lading alone (the reference has no UI): a
 * store of `uiRepos` repositories, one of which holds `uiTags` tags (each its own image), placed
 * in registry:2's layout before the server starts. Each view is a fresh page load, timed from the
 * navigation until its table is drawn: the first view of the repository list after the start (the
 * catalog walked, summaries read), then `uiViews` loads of its pages; the same for the big
 * repository's tags sorted by push time (every tag's time and image needed), page after page.
 */
import { existsSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import type { Options } from "../options.js";
import { layoutWriter } from "../store-layout.js";
import { imageManifest } from "../protocol.js";
import type { PhaseResult, Workload } from "../scenarios.js";

/** Sorted after every other repository: its tags are first read by the tag views, not by the first page of the list. */
export const bigRepository = "bench/ui/tagged";
const repoName = (r: number): string => `bench/ui/r${String(r).padStart(5, "0")}`;

/** Writes the store under `storage` in registry:2's layout. */
export function writeStore(storage: string, repos: number, tags: number): void {
  const { v2, blob, link } = layoutWriter(storage);
  const image = (repo: string, tag: string, n: number): void => {
    const config = blob(JSON.stringify({ architecture: "amd64", os: "linux", config: { Env: [`N=${n}`] }, rootfs: { type: "layers", diff_ids: [] } }));
    const layer = blob(`layer of image ${n}\n`);
    const manifest = blob(imageManifest(config, [layer]));
    const dir = join(v2, "repositories", repo);
    for (const b of [config, layer]) link(join(dir, "_layers/sha256", b.digest.slice(7)), b.digest);
    link(join(dir, "_manifests/revisions/sha256", manifest.digest.slice(7)), manifest.digest);
    link(join(dir, "_manifests/tags", tag, "current"), manifest.digest);
    link(join(dir, "_manifests/tags", tag, "index/sha256", manifest.digest.slice(7)), manifest.digest);
  };
  for (let r = 0; r < repos - 1; r++) image(repoName(r), "latest", r);
  for (let t = 0; t < tags; t++) image(bigRepository, `v${t}`, repos + t);
}

/** The store, written once per run into a template and hard-linked into each server's storage (neither changes a file in place). */
async function placeStore(storage: string, opts: Options): Promise<void> {
  const template = join(opts.work, `ui-template-${opts.uiRepos}-${opts.uiTags}`);
  if (!existsSync(join(template, "complete"))) {
    writeStore(template, opts.uiRepos, opts.uiTags);
    writeFileSync(join(template, "complete"), "");
  }
  const copy = spawn("cp", ["-al", join(template, "docker"), `${storage}/`], { stdio: ["ignore", "ignore", "pipe"] });
  const [code] = (await once(copy, "close")) as [number | null];
  if (code !== 0) throw new Error("cp -al of the UI store failed");
}

/** ms from a fresh navigation to `url` until `ready` is drawn. */
async function timedLoad(page: Page, url: string, ready: string): Promise<number> {
  const start = performance.now();
  await page.goto(url, { waitUntil: "commit" });
  await page.locator(ready).waitFor({ timeout: 30_000 });
  return performance.now() - start;
}

/** The last row of the `index`th page (from 0) of a list of `total`, 50 to a page. */
function rowsReady(total: number, index: number): string {
  return `tbody tr:nth-child(${Math.min(50, total - index * 50)})`;
}

function p99(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0;
}

export const uiWorkload: Workload = {
  name: "ui",
  async unavailable() {
    return existsSync("/usr/bin/chromium") ? undefined : "Debian's chromium is not installed (apt-get install chromium)";
  },
  prepare: placeStore,
  async run(ctx) {
    const { opts, server } = ctx;
    const { chromium } = await import("playwright-core");
    const browser: Browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const pages = Math.max(1, Math.ceil(opts.uiRepos / 50));
      // A query the server ignores makes each load a new navigation (a fragment alone would not).
      const listUrl = (i: number) => `${server.url}/?load=${i}#/?page=${(i % pages) + 1}`;
      const fullPage = (i: number) => rowsReady(opts.uiRepos, i % pages);
      await ctx.phase("ui.first", async (): Promise<PhaseResult> => ({ units: 1, p99Ms: await timedLoad(page, listUrl(0), fullPage(0)) }));
      await ctx.phase("ui.repositories", async (): Promise<PhaseResult> => {
        const times: number[] = [];
        for (let i = 1; i <= opts.uiViews; i++) times.push(await timedLoad(page, listUrl(i), fullPage(i)));
        return { units: times.length, p99Ms: p99(times) };
      });
      const tagPages = Math.max(1, Math.ceil(opts.uiTags / 50));
      const tagsUrl = (i: number) => `${server.url}/?load=t${i}#/r/${bigRepository}?sort=pushed&order=desc&page=${(i % tagPages) + 1}`;
      const tagsReady = (i: number) => rowsReady(opts.uiTags, i % tagPages);
      await ctx.phase("ui.tags.first", async (): Promise<PhaseResult> => ({ units: 1, p99Ms: await timedLoad(page, tagsUrl(0), tagsReady(0)) }));
      await ctx.phase("ui.tags", async (): Promise<PhaseResult> => {
        const times: number[] = [];
        for (let i = 1; i <= opts.uiViews; i++) times.push(await timedLoad(page, tagsUrl(i), tagsReady(i)));
        return { units: times.length, p99Ms: p99(times) };
      });
    } finally {
      await browser.close();
    }
  },
};
