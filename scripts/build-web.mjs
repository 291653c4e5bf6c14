// Bundles the web UI (web/) into dist/web/: index.html and assets/ named by content hash.
import { build } from "esbuild";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";

const out = "dist/web";
await rm(out, { recursive: true, force: true });
const result = await build({
  entryPoints: { app: "web/main.tsx" },
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  jsx: "automatic",
  jsxImportSource: "preact",
  outdir: `${out}/assets`,
  entryNames: "[name]-[hash]",
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
});
const outputs = Object.keys(result.metafile.outputs).map((file) => path.basename(file));
const js = outputs.find((f) => f.endsWith(".js"));
const css = outputs.find((f) => f.endsWith(".css"));
await mkdir(out, { recursive: true });
await writeFile(
  `${out}/index.html`,
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lading</title>
<link rel="icon" href="data:,">
${css ? `<link rel="stylesheet" href="assets/${css}">` : ""}
<script type="module" src="assets/${js}"></script>
</head>
<body>
<div id="app"></div>
<noscript>The registry's pages need JavaScript; its API is at /v2/.</noscript>
</body>
</html>
`,
);
