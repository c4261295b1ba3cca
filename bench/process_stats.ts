/**
 * What a process has cost so far, read from Linux `/proc`: CPU time (user + system) from
 * `/proc/PID/stat` and resident memory (now and peak) from `/proc/PID/status`. Deno grants
 * another process's `/proc` files only with `--allow-all`, so they are read through `cat`
 * (`--allow-run=cat`), which keeps the benchmarks' permissions explicit.
 *
 * @module
 */

async function readProcFile(pid: number | "self", file: string): Promise<string> {
  const target = pid === "self" ? Deno.pid : pid;
  const { success, stdout } = await new Deno.Command("cat", {
    args: [`/proc/${target}/${file}`],
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!success) throw new Error(`Cannot read /proc/${target}/${file}: is the process gone?`);
  return new TextDecoder().decode(stdout);
}

/** Clock ticks per second of `/proc/PID/stat` times; 100 on every common Linux build. */
const CLOCK_TICKS = 100;

/** CPU seconds (user + system) process `pid` has used; `"self"` reads this process. */
export function readCpuSeconds(pid: number | "self"): Promise<number> {
  return readStatCpu(pid, "stat");
}

/**
 * CPU seconds (user + system) of the main thread of process `pid`: the one that runs its
 * JavaScript, so the one that saturates first (V8's helper threads, the garbage collector's
 * concurrent work and Deno's blocking-task pool count in `readCpuSeconds` but not here).
 */
export function readMainThreadCpuSeconds(pid: number | "self"): Promise<number> {
  const target = pid === "self" ? Deno.pid : pid;
  return readStatCpu(pid, `task/${target}/stat`);
}

async function readStatCpu(pid: number | "self", file: string): Promise<number> {
  const stat = await readProcFile(pid, file);
  // The command name may hold spaces and parentheses: the fields start after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new SyntaxError(`Cannot read CPU times of process ${pid}: /proc stat is ${stat}`);
  }
  return (utime + stime) / CLOCK_TICKS;
}

/** Resident memory of a process in KiB: `rss` now, `hwm` the peak so far. */
export interface MemoryFigures {
  /** VmRSS. */
  rssKiB: number;
  /** VmHWM. */
  hwmKiB: number;
}

/**
 * Resident memory of process `pid`.
 *
 * @example
 * ```ts
 * import { readMemory } from "./process_stats.ts";
 * import assert from "node:assert/strict";
 *
 * const { rssKiB, hwmKiB } = await readMemory("self");
 * assert.ok(rssKiB > 0 && hwmKiB >= rssKiB);
 * ```
 */
export async function readMemory(pid: number | "self"): Promise<MemoryFigures> {
  const status = await readProcFile(pid, "status");
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status);
    if (!match) throw new SyntaxError(`Cannot read ${name} of process ${pid}`);
    return Number(match[1]);
  };
  return { rssKiB: field("VmRSS"), hwmKiB: field("VmHWM") };
}

/** The machine: cores, memory, and the 1/5/15-minute load averages at the time of the call. */
export async function describeMachine(): Promise<string> {
  const [loadavg, meminfo] = await Promise.all([
    readProcFile("self", "../loadavg"),
    readProcFile("self", "../meminfo"),
  ]);
  const total = Number(/^MemTotal:\s+(\d+) kB/m.exec(meminfo)?.[1] ?? NaN) / 1024 / 1024;
  const load = loadavg.split(" ").slice(0, 3).join(" ");
  return `${navigator.hardwareConcurrency} cores, ${
    total.toFixed(1)
  } GiB RAM, load average ${load}`;
}
