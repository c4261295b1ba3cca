/**
 * A plain-text table for benchmark figures, Markdown-compatible so it pastes into
 * `BENCHMARKS.md` as is.
 *
 * @module
 */

/**
 * Formats `rows` under `header` as a Markdown table with padded columns.
 *
 * @example
 * ```ts
 * import { formatTable } from "./figures_table.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(formatTable(["a", "bb"], [["1", "2"]]), "| a | bb |\n|---|----|\n| 1 | 2  |");
 * ```
 */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(" | ")} |`;
  return [
    line(header),
    `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
    ...rows.map(line),
  ].join("\n");
}

/** A number with `digits` decimals, or `-` when it is not finite. */
export function fixed(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "-";
}
