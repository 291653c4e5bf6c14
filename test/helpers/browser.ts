import { chromium, type Browser } from "playwright-core";
import { requireTools } from "./exec.js";

/**
 * Debian's Chromium, headless, driven by playwright-core (no browser download is possible here):
 * without the background-networking flags it keeps dialling Google's hosts, which this machine
 * refuses. playwright gives it a fresh profile and stops the process it started when closed.
 */
export async function launchChromium(): Promise<Browser> {
  requireTools("chromium");
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}
