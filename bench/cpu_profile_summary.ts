/**
 * Where a process's time went, from the `.cpuprofile` files `deno run --cpu-prof` writes: self
 * time by module (Deno's built-in `ext:` files, the project's files, npm packages, and V8's
 * garbage collector and `(program)`), inclusive time by module (any of its frames on the stack),
 * and the functions with the most self time, each as a share of the busy time (all samples but
 * `(idle)`).
 *
 * Run: `deno run --allow-read bench/cpu_profile_summary.ts DIR_OR_FILE [--top 20]`
 *
 * @module
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self and inclusive time of one module or function, in ms. */
export interface ProfileEntry {
  name: string;
  selfMs: number;
  totalMs: number;
}

/** The summary of one or more profiles. */
export interface ProfileSummary {
  /** All sampled time, ms. */
  sampledMs: number;
  /** Sampled time outside `(idle)`, ms. */
  busyMs: number;
  modules: ProfileEntry[];
  functions: ProfileEntry[];
}

/**
 * The module a frame belongs to: `ext:deno_web/06_streams.js`, `src/sse.ts`, `npm:openai`, or
 * V8's pseudo-frames such as `(garbage collector)`.
 *
 * @example
 * ```ts
 * import { moduleOf } from "./cpu_profile_summary.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(moduleOf("file:///w/node_modules/.deno/openai@7.57.0/node_modules/openai/x.mjs", "f"), "npm:openai");
 * assert.equal(moduleOf("file:///w/src/sse.ts", "send"), "src/sse.ts");
 * assert.equal(moduleOf("", "(garbage collector)"), "(garbage collector)");
 * assert.equal(moduleOf("", "op_read"), "(native)");
 * ```
 */
export function moduleOf(url: string, functionName: string): string {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)";
  const npm = /node_modules\/(?:\.deno\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (npm) return `npm:${npm[1]}`;
  const ours = /\/((?:src|bench|testing|tests)\/[^/]+)$/.exec(url);
  if (ours) return ours[1] as string;
  if (url.startsWith("file://")) return url.slice(url.lastIndexOf("/") + 1);
  return url;
}

function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = moduleOf(url, functionName);
  const name = functionName === "" ? "(anonymous)" : functionName;
  return where === name ? name : `${name} ${where}:${lineNumber + 1}`;
}

/** Summarizes `profiles` together. */
export function summarize(profiles: CpuProfile[]): ProfileSummary {
  const modules = new Map<string, ProfileEntry>();
  const functions = new Map<string, ProfileEntry>();
  const entry = (map: Map<string, ProfileEntry>, name: string) => {
    let e = map.get(name);
    if (!e) map.set(name, e = { name, selfMs: 0, totalMs: 0 });
    return e;
  };
  let sampledMs = 0;
  let idleMs = 0;
  for (const profile of profiles) {
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const node of profile.nodes) {
      for (const child of node.children ?? []) parent.set(child, node.id);
    }
    // Time per node first; each node's stack is then walked once.
    const selfUs = new Map<number, number>();
    profile.samples.forEach((id, i) => {
      selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
    });
    for (const [id, us] of selfUs) {
      const ms = us / 1000;
      const node = byId.get(id) as ProfileNode;
      sampledMs += ms;
      if (node.callFrame.functionName === "(idle)") {
        idleMs += ms;
        continue;
      }
      entry(modules, moduleOf(node.callFrame.url, node.callFrame.functionName)).selfMs += ms;
      entry(functions, frameName(node)).selfMs += ms;
      const seenModules = new Set<string>();
      const seenFunctions = new Set<string>();
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const frame = byId.get(at) as ProfileNode;
        if (frame.callFrame.functionName === "(root)") break;
        seenModules.add(moduleOf(frame.callFrame.url, frame.callFrame.functionName));
        seenFunctions.add(frameName(frame));
      }
      for (const name of seenModules) entry(modules, name).totalMs += ms;
      for (const name of seenFunctions) entry(functions, name).totalMs += ms;
    }
  }
  const bySelf = (a: ProfileEntry, b: ProfileEntry) => b.selfMs - a.selfMs;
  return {
    sampledMs,
    busyMs: sampledMs - idleMs,
    modules: [...modules.values()].sort(bySelf),
    functions: [...functions.values()].sort(bySelf),
  };
}

/** Reads every `.cpuprofile` under `path` (a file or a folder) and formats the summary. */
export async function summarizeProfiles(path: string, top = 20): Promise<string> {
  const files: string[] = [];
  if ((await Deno.stat(path)).isDirectory) {
    for await (const item of Deno.readDir(path)) {
      if (item.name.endsWith(".cpuprofile")) files.push(`${path}/${item.name}`);
    }
  } else files.push(path);
  const profiles = await Promise.all(
    files.map(async (f) => JSON.parse(await Deno.readTextFile(f)) as CpuProfile),
  );
  const s = summarize(profiles);
  const pct = (ms: number) => `${(100 * ms / s.busyMs).toFixed(1)} %`;
  const lines = [
    `CPU profile (${files.length} file${files.length === 1 ? "" : "s"}): ${
      (s.sampledMs / 1000).toFixed(2)
    } s sampled, ${(s.busyMs / 1000).toFixed(2)} s busy`,
    "",
    "| module | self | inclusive |",
    "|---|---|---|",
    ...s.modules.slice(0, top).map((m) => `| ${m.name} | ${pct(m.selfMs)} | ${pct(m.totalMs)} |`),
    "",
    "| function | self | inclusive |",
    "|---|---|---|",
    ...s.functions.slice(0, top).map((f) => `| ${f.name} | ${pct(f.selfMs)} | ${pct(f.totalMs)} |`),
  ];
  return lines.join("\n");
}

if (import.meta.main) {
  const path = Deno.args.find((a) => !a.startsWith("--"));
  if (!path) throw new TypeError("Give a .cpuprofile file or a folder of them");
  const at = Deno.args.indexOf("--top");
  console.log(await summarizeProfiles(path, at === -1 ? 20 : Number(Deno.args[at + 1])));
}
