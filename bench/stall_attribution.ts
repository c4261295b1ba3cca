/**
 * What ran during the event loop's long stalls: reads a CPU profile of a service run through
 * `stall_probe.ts` under `--cpu-prof` and the probe's output (its `STALL` and `MARK` lines), ties
 * the profile's clock to the printed times with the probe's 1 ms marker spins, and for each stall
 * of at least `--min-ms` of the loop's own work (the lateness less the thread's wait for a CPU)
 * counts the samples taken inside it, by function; then the same over all of them.
 *
 * Run, with a finer sampling interval than the default 1 ms:
 * ```sh
 * deno run --allow-all --cpu-prof --cpu-prof-dir=DIR --cpu-prof-interval=100 bench/stall_probe.ts \
 *   --port 8123 --store sqlite --data-dir DIR/data --offline-delay-ms 50 > DIR/probe.log
 * # drive it (bench/load.ts --urls http://127.0.0.1:8123 ...), then stop it with SIGINT
 * deno run --allow-read bench/stall_attribution.ts --profile DIR/*.cpuprofile --log DIR/probe.log
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { formatTable } from "./figures_table.ts";
import { moduleOf } from "./cpu_profile_summary.ts";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: Node[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** One stall as the probe printed it: when it ended (epoch ms), how late, and the CPU wait. */
export interface Stall {
  at: number;
  ms: number;
  waitMs?: number;
}

/** Samples of one stall, or of all, by function: `[label, ms]`, the most first. */
export type Attribution = [string, number][];

const median = (values: number[]) =>
  values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)] as number;

/**
 * Ties the profile's clock (µs) to epoch ms: the offset that maps the marker spins' first
 * samples onto the `MARK` times printed beside them. A spin the sampler missed leaves a mark
 * unmatched, so the first spin is tried against every mark and the offset kept is the one whose
 * spins land nearest their marks (median distance; the probe spaces its marks unevenly, so only
 * the right one fits); then the median of those pairs' offsets.
 *
 * @example
 * ```ts
 * import { clockOffset } from "./stall_attribution.ts";
 * import assert from "node:assert/strict";
 *
 * // Marks spaced unevenly; the profile's clock is 5,000 ms ahead; the first spin went unsampled.
 * const marks = [1_000, 1_837, 2_811, 3_922];
 * const spins = [6_837_100, 7_811_000, 8_922_050];
 * assert.equal(Math.round(clockOffset(spins, marks) * 100) / 100, 5_000.05);
 * ```
 */
export function clockOffset(markerStartsUs: number[], marksMs: number[]): number {
  if (markerStartsUs.length === 0 || marksMs.length === 0) {
    throw new Error("No marker in the profile or no MARK line in the log: was it stall_probe.ts?");
  }
  const nearest = (ms: number) =>
    marksMs.reduce((a, b) => Math.abs(b - ms) < Math.abs(a - ms) ? b : a);
  let best: { offset: number; residual: number } | undefined;
  for (const anchor of marksMs) {
    const offset = (markerStartsUs[0] as number) / 1000 - anchor;
    const residual = median(markerStartsUs.map((us) => {
      const ms = us / 1000 - offset;
      return Math.abs(nearest(ms) - ms);
    }));
    if (!best || residual < best.residual) best = { offset, residual };
  }
  const offset = (best as { offset: number }).offset;
  return median(markerStartsUs.map((us) => us / 1000 - nearest(us / 1000 - offset)));
}

function label(node: Node): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const name = functionName || "(anonymous)";
  if (url === "") return name;
  return `${name} ${moduleOf(url, functionName)}:${lineNumber + 1}`;
}

/** Attributes each stall of `minMs` or more own work; returns per stall and over all. */
export function attribute(
  profile: Profile,
  stalls: Stall[],
  marksMs: number[],
  minMs: number,
): { perStall: { stall: Stall; own: number; top: Attribution }[]; overall: Attribution } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const times: number[] = [];
  let t = profile.startTime;
  for (const delta of profile.timeDeltas) times.push(t += delta);
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parentOf.set(child, node.id);
  }
  // A sample inside the spin may be of what it calls (`performance.now`).
  const inMarker = (id: number) => {
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      if (byId.get(at)?.callFrame.functionName === "stallProbeMarker") return true;
    }
    return false;
  };
  const markerStarts: number[] = [];
  let last = -Infinity;
  profile.samples.forEach((id, i) => {
    if (!inMarker(id)) return;
    const at = times[i] as number;
    if (at - last > 5_000) markerStarts.push(at);
    last = at;
  });
  const offsetMs = clockOffset(markerStarts, marksMs);
  const overall = new Map<string, number>();
  const perStall = stalls
    .map((stall) => ({ stall, own: stall.ms - (stall.waitMs ?? 0) }))
    .filter((s) => s.own >= minMs)
    .map(({ stall, own }) => {
      // The loop was blocked from up to one probe period (4 ms) before the tick was due.
      const fromUs = (stall.at - stall.ms - 4 + offsetMs) * 1000;
      const toUs = (stall.at + offsetMs) * 1000;
      const counts = new Map<string, number>();
      profile.samples.forEach((id, i) => {
        const at = times[i] as number;
        if (at < fromUs || at > toUs) return;
        const node = byId.get(id);
        if (!node) return;
        const ms = (profile.timeDeltas[i] ?? 0) / 1000;
        const name = label(node);
        counts.set(name, (counts.get(name) ?? 0) + ms);
        overall.set(name, (overall.get(name) ?? 0) + ms);
      });
      return { stall, own, top: [...counts].sort((a, b) => b[1] - a[1]) };
    });
  return { perStall, overall: [...overall].sort((a, b) => b[1] - a[1]) };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      profile: { type: "string" },
      log: { type: "string" },
      "min-ms": { type: "string", default: "10" },
      top: { type: "string", default: "6" },
    },
  });
  if (!values.profile || !values.log) {
    throw new TypeError("Usage: stall_attribution.ts --profile FILE.cpuprofile --log PROBE_LOG");
  }
  const profile = JSON.parse(await Deno.readTextFile(values.profile)) as Profile;
  const stalls: Stall[] = [];
  const marks: number[] = [];
  for (const line of (await Deno.readTextFile(values.log)).split("\n")) {
    if (line.startsWith("STALL ")) stalls.push(JSON.parse(line.slice(6)));
    else if (line.startsWith("MARK ")) marks.push(JSON.parse(line.slice(5)).at);
  }
  const top = Number(values.top);
  const { perStall, overall } = attribute(profile, stalls, marks, Number(values["min-ms"]));
  const fmt = (list: Attribution) =>
    list.slice(0, top).map(([name, ms]) => `${name} ${ms.toFixed(1)}`).join("; ");
  console.log(
    formatTable(
      ["stall ms", "own ms", "sampled ms", "what ran (ms sampled)"],
      perStall.sort((a, b) => b.own - a.own).slice(0, 15).map(({ stall, own, top: list }) => [
        stall.ms.toFixed(1),
        own.toFixed(1),
        list.reduce((sum, [, ms]) => sum + ms, 0).toFixed(1),
        fmt(list),
      ]),
    ),
  );
  const total = overall.reduce((sum, [, ms]) => sum + ms, 0);
  console.log(`\nall ${perStall.length} stalls, ${total.toFixed(1)} ms sampled:`);
  console.log(
    formatTable(
      ["function", "ms", "share"],
      overall.slice(0, 20).map(([name, ms]) => [
        name,
        ms.toFixed(1),
        `${(100 * ms / total).toFixed(1)} %`,
      ]),
    ),
  );
}
