/**
 * The chart, as SVG written by hand: one row per scenario, a bar from 1× to lading/reference's
 * throughput ratio on a log scale, the target as a black tick; green met, red not met, grey no target.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { Results } from "./report.js";

const width = 960;
const labelWidth = 360;
const plotLeft = labelWidth + 10;
const plotRight = width - 70;
const rowHeight = 22;
const top = 48;
const minRatio = 0.1;
const maxRatio = 200;
const ticks = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200];

const escape = (text: string): string => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

function x(ratio: number): number {
  const clamped = Math.min(Math.max(ratio, minRatio), maxRatio);
  return plotLeft + ((Math.log10(clamped) - Math.log10(minRatio)) / (Math.log10(maxRatio) - Math.log10(minRatio))) * (plotRight - plotLeft);
}

export function chart(results: Results): string {
  const rows = results.scenarios;
  const height = top + rows.length * rowHeight + 50;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">lading / reference throughput (median of ${results.rounds} round(s), log scale)</text>`,
    `<text x="${width / 2}" y="38" text-anchor="middle" fill="#555">bar: ratio, from 1×; black tick: target; green met, red not met, grey no target</text>`,
  );
  const bottom = top + rows.length * rowHeight;
  for (const t of ticks) {
    const tx = x(t).toFixed(1);
    parts.push(`<line x1="${tx}" y1="${top - 4}" x2="${tx}" y2="${bottom}" stroke="${t === 1 ? "#333" : "#ddd"}" stroke-width="${t === 1 ? 1.5 : 1}"/>`);
    parts.push(`<text x="${tx}" y="${bottom + 16}" text-anchor="middle" fill="#333">${t}×</text>`);
  }
  rows.forEach((s, i) => {
    const y = top + i * rowHeight;
    const mid = y + rowHeight / 2 + 4;
    parts.push(`<text x="${labelWidth}" y="${mid}" text-anchor="end">${escape(s.id)}</text>`);
    const target = s.checks.find((c) => c.what === "throughput ratio");
    if (s.ratio === null) {
      const ladingOnly = s.status === "ok" && Boolean(s.ladingOnly);
      const text = ladingOnly ? "lading only" : s.status === "ok" ? "no data" : s.status;
      parts.push(`<text x="${plotLeft + 4}" y="${mid}" fill="${ladingOnly ? "#9e9e9e" : "#c62828"}">${escape(text)}</text>`);
      return;
    }
    const color = target === undefined || target.met === null ? "#9e9e9e" : target.met ? "#2e7d32" : "#c62828";
    const x0 = Math.min(x(1), x(s.ratio));
    const x1 = Math.max(x(1), x(s.ratio));
    parts.push(`<rect x="${x0.toFixed(1)}" y="${y + 4}" width="${Math.max(1, x1 - x0).toFixed(1)}" height="${rowHeight - 8}" fill="${color}"/>`);
    const want = target ? Number(/[\d.]+/.exec(target.want)?.[0]) : NaN;
    let labelAt = x1 + 4;
    if (Number.isFinite(want)) {
      const tx = x(want);
      parts.push(`<line x1="${tx.toFixed(1)}" y1="${y + 1}" x2="${tx.toFixed(1)}" y2="${y + rowHeight - 1}" stroke="#000" stroke-width="2.5"/>`);
      if (tx >= x1 - 2 && tx < x1 + 40) labelAt = tx + 5;
    }
    parts.push(`<text x="${labelAt.toFixed(1)}" y="${mid}" fill="#333">${s.ratio.toFixed(2)}×</text>`);
  });
  parts.push(`<text x="${plotLeft}" y="${bottom + 36}" fill="#555">${escape(`generated ${results.startedAt.slice(0, 10)} by ${results.command}`)}</text>`, "</svg>");
  return `${parts.join("\n")}\n`;
}

export async function writeChart(results: Results, file: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, chart(results));
}
