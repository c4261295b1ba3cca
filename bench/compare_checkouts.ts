/**
 * `--compare DIR[,DIR]`, shared by the scripts that run the service: other checkouts of the
 * project (a worktree of a parent commit, `deno install`ed) started beside this one in the same
 * run, so a change is measured next to its parent under the same load.
 *
 * @module
 */

/**
 * The checkouts named by a `--compare` value, each checked to hold the service's `main.ts`.
 *
 * @example
 * ```ts
 * import { parseCompare } from "./compare_checkouts.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseCompare(""), []);
 * assert.throws(() => parseCompare("/nonexistent-checkout/"), TypeError);
 * ```
 */
export function parseCompare(raw: string): string[] {
  const dirs = raw.split(",").map((d) => d.trim().replace(/\/$/, "")).filter((d) => d !== "");
  for (const dir of dirs) {
    try {
      Deno.statSync(`${dir}/main.ts`);
    } catch {
      throw new TypeError(`--compare takes checkouts of the project: ${dir}/main.ts not found`);
    }
  }
  return dirs;
}

/**
 * The instance name of the `i`-th compared checkout (from 0), as the scripts' tables show it.
 *
 * @example
 * ```ts
 * import { compareName } from "./compare_checkouts.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(compareName(0), "compare1");
 * assert.equal(compareName(1, " sqlite"), "compare2 sqlite");
 * ```
 */
export function compareName(i: number, suffix = ""): string {
  return `compare${i + 1}${suffix}`;
}
