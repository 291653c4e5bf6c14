#!/usr/bin/env -S node --max-semi-space-size=4 --no-incremental-marking
/*
 * The launcher: nothing else is loaded before the runtime is known to be new enough, so that an
 * old Node.js gets one line saying so rather than a failure to link a module.
 */
const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 15)) {
  process.stderr.write(`lading: needs Node.js 22.15 or later (24 is what it is tested on); this is ${process.version}. In the checkout, \`npm ci\` installs Node 24 for npm scripts and npx\n`);
  process.exit(1);
}
await import("./threadpool.js");
await import("./program.js");
