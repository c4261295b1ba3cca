/**
 * What the young-generation collector copies and promotes per job, from V8's own trace
 * (`--trace-gc-nvp`): the service runs with it, the load runs on the compatibility routes, and
 * each scavenge in the measured pass is summed. A job that outlives no collection should leave
 * nothing promoted beyond what the service keeps on purpose; bytes promoted and then freed by a
 * full collection are what a scavenge's pause (goal 17.4) and its CPU (17.5) pay for.
 *
 * Loads (`--loads 50x20,50x100,0x100`) are the offline writer's delay per call in ms × the jobs
 * in flight, as in `loop_stalls.ts`; `--store memory,sqlite`; `--compare DIR[,DIR]` runs other
 * checkouts beside this one, in the same rounds (`--rounds`), alternating.
 *
 * Run: `deno run --allow-net=127.0.0.1 --allow-run --allow-read bench/gc_promotion.ts
 * [--jobs 2000] [--loads 50x20,50x100] [--store sqlite] [--compare DIR] [--rounds 2]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { benchDataDir, removeBenchDataDir, spawnQuillflow } from "./bench_servers.ts";
import { compareName, parseCompare } from "./compare_checkouts.ts";
import { fixed, formatTable } from "./figures_table.ts";
import { runJob } from "./job_client.ts";
import { describeMachine, readCpuSeconds } from "./process_stats.ts";
import { runPool } from "./run_pool.ts";

/** One young-generation collection, as V8 traced it. */
interface Scavenge {
  pauseMs: number;
  survivedBytes: number;
  promotedBytes: number;
}

/** One instance's figures over one measured pass. */
export interface PromotionFigures {
  name: string;
  store: string;
  load: string;
  jobs: number;
  errors: number;
  scavenges: number;
  /** Bytes promoted to the old generation by scavenges, per job, KiB. */
  promotedKiBPerJob: number;
  /** Bytes that survived a scavenge in the young generation, per job, KiB. */
  survivedKiBPerJob: number;
  /** Scavenge pauses in all, per job, µs. */
  scavengeUsPerJob: number;
  longestScavengeMs: number;
  cpuMsPerJob: number;
}

/** Reads a `--trace-gc-nvp` line (JSON after `GC: `); `undefined` for any other line. */
function scavengeOf(line: string): Scavenge | undefined {
  const at = line.indexOf("GC: {");
  if (at === -1) return undefined;
  try {
    const gc = JSON.parse(line.slice(at + 4)) as Record<string, unknown>;
    if (gc.gc !== "s") return undefined;
    return {
      pauseMs: Number(gc.pause ?? 0),
      survivedBytes: Number(gc.new_space_survived ?? 0),
      promotedBytes: Number(gc.promoted ?? 0),
    };
  } catch {
    return undefined; // a line cut by other output
  }
}

async function measureOne(
  name: string,
  checkout: string | undefined,
  store: string,
  delayMs: number,
  concurrency: number,
  jobs: number,
): Promise<PromotionFigures> {
  const scavenges: Scavenge[] = [];
  const dataDir = store === "sqlite" ? benchDataDir() : undefined;
  const server = await spawnQuillflow(
    [
      "--offline-delay-ms",
      String(delayMs),
      "--max-concurrent-jobs",
      String(concurrency),
      "--max-queued-jobs",
      "1000",
      ...(dataDir ? ["--store", "sqlite", "--data-dir", dataDir] : ["--store", "memory"]),
    ],
    undefined,
    checkout,
    {
      denoFlags: ["--v8-flags=--trace-gc-nvp"],
      onLine: (line) => {
        const scavenge = scavengeOf(line);
        if (scavenge) scavenges.push(scavenge);
      },
    },
  );
  try {
    const topic = (i: number) => `benchmark topic ${i % 50}`;
    // Warm up: the young generation grows to its working size first.
    await runPool(
      Math.min(jobs, 5 * concurrency),
      concurrency,
      (i) => runJob(server.url, "compat", topic(i)),
    );
    const from = scavenges.length;
    const cpu0 = await readCpuSeconds(server.pid);
    const results = await runPool(jobs, concurrency, (i) => runJob(server.url, "compat", topic(i)));
    const cpu1 = await readCpuSeconds(server.pid);
    const pass = scavenges.slice(from);
    const sum = (f: (s: Scavenge) => number) => pass.reduce((n, s) => n + f(s), 0);
    return {
      name,
      store,
      load: `${delayMs} ms × ${concurrency}`,
      jobs,
      errors: results.filter((r) => r instanceof Error).length,
      scavenges: pass.length,
      promotedKiBPerJob: sum((s) => s.promotedBytes) / 1024 / jobs,
      survivedKiBPerJob: sum((s) => s.survivedBytes) / 1024 / jobs,
      scavengeUsPerJob: sum((s) => s.pauseMs) * 1000 / jobs,
      longestScavengeMs: Math.max(0, ...pass.map((s) => s.pauseMs)),
      cpuMsPerJob: (cpu1 - cpu0) * 1000 / jobs,
    };
  } finally {
    await server.stop();
    if (dataDir) await removeBenchDataDir(dataDir);
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      jobs: { type: "string", default: "2000" },
      loads: { type: "string", default: "50x20,50x100,0x100" },
      store: { type: "string", default: "memory,sqlite" },
      compare: { type: "string", default: "" },
      rounds: { type: "string", default: "1" },
    },
  });
  const jobs = Number(values.jobs);
  const rounds = Number(values.rounds);
  const loads = values.loads.split(",").map((load) => {
    const [delay, concurrency] = load.split("x").map(Number);
    if (!Number.isInteger(delay) || !Number.isInteger(concurrency)) {
      throw new TypeError(`--loads takes DELAYxCONCURRENCY pairs: ${load}`);
    }
    return { delay: delay as number, concurrency: concurrency as number };
  });
  const checkouts: { name: string; dir: string | undefined }[] = [
    { name: "this checkout", dir: undefined },
    ...parseCompare(values.compare).map((dir, i) => ({ name: compareName(i, dir), dir })),
  ];
  console.log(`machine at start: ${await describeMachine()}`);
  const rows: PromotionFigures[] = [];
  for (const { delay, concurrency } of loads) {
    for (const store of values.store.split(",")) {
      for (let round = 0; round < rounds; round++) {
        // Alternating, so a change in the machine's load falls on every checkout alike.
        const order = round % 2 === 0 ? checkouts : [...checkouts].reverse();
        for (const { name, dir } of order) {
          rows.push(await measureOne(name, dir, store, delay, concurrency, jobs));
        }
      }
    }
  }
  console.log(formatTable(
    [
      "load",
      "store",
      "instance",
      "ok/jobs",
      "scavenges",
      "promoted KiB/job",
      "survived KiB/job",
      "scavenge µs/job",
      "longest scavenge ms",
      "CPU ms/job",
    ],
    rows.map((r) => [
      r.load,
      r.store,
      r.name,
      `${r.jobs - r.errors}/${r.jobs}`,
      String(r.scavenges),
      fixed(r.promotedKiBPerJob),
      fixed(r.survivedKiBPerJob),
      fixed(r.scavengeUsPerJob),
      fixed(r.longestScavengeMs),
      fixed(r.cpuMsPerJob, 3),
    ]),
  ));
  console.log(`machine at end: ${await describeMachine()}`);
  console.log(`FIGURES ${JSON.stringify({ kind: "gc_promotion", rows })}`);
}
