/**
 * Event-loop stalls under durable load, measured with no change to `src/`: Quillflow runs
 * through `stall_probe.ts` (a 4 ms timer-lag probe and the timing of every `COMMIT`) with the
 * memory store, the sqlite store, and the sqlite store with SQLite's automatic WAL checkpoints
 * off (the A/B run), one after the other under the same load, in one run. For each: the ticks'
 * lateness (p99 and the longest stall), the stalls of 5 ms and 20 ms or more, the commits (how
 * many, how long in all, the longest; the same for those that ran a checkpoint), and how many of
 * the 20 ms stalls overlap a commit of 5 ms or more or a checkpoint: if the long stalls are the
 * checkpoints, they vanish with checkpoints off.
 *
 * Loads (`--loads 0x100,50x100,50x20`, each the offline writer's delay per call in ms × the
 * jobs in flight): zero delay at 100 (the loop saturated), 50 ms per call at 100 (about one
 * core's worth), and 50 ms per call at 20 (the loop mostly idle, where a stall stands out); each
 * `--jobs` jobs (at most 50 × the concurrency) on the compatibility routes.
 *
 * `--compare DIR` (another checkout of the project, such as the parent commit's) runs its sqlite
 * store instead of the A/B one, through this checkout's probe (copy `bench/stall_probe.ts` into
 * it first if it predates the count of checkpoints off the main thread): memory, sqlite, and
 * DIR's sqlite, side by side under the same load.
 *
 * Run: `deno run --allow-net=127.0.0.1 --allow-run --allow-read bench/loop_stalls.ts
 * [--jobs 2000] [--loads 0x100,50x100,50x20] [--compare DIR]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { benchDataDir, removeBenchDataDir, spawnQuillflow } from "./bench_servers.ts";
import { fixed, formatTable } from "./figures_table.ts";
import { runJob } from "./job_client.ts";
import { describeMachine, readCpuSeconds } from "./process_stats.ts";
import { runPool } from "./run_pool.ts";
import type { SpawnedServer } from "./spawned_server.ts";
import { BUCKETS_MS, type ProbeTotals } from "./stall_probe.ts";

interface Timed {
  /** When it ended, ms since the epoch. */
  at: number;
  ms: number;
  /** For a commit: whether it ran a WAL checkpoint. */
  checkpoint?: boolean;
  /** For a stall: the main thread's time waiting for a CPU since the tick before (Linux). */
  waitMs?: number;
}

interface Probed {
  name: string;
  server: SpawnedServer;
  dataDir: string | undefined;
  stalls: Timed[];
  commits: Timed[];
  totals: { at: number; totals: ProbeTotals }[];
}

/** What one instance showed over the measured pass. */
export interface StallFigures {
  name: string;
  offlineDelayMs: number;
  concurrency: number;
  jobs: number;
  errors: number;
  jobsPerSecond: number;
  cpuMsPerJob: number;
  ticks: number;
  /** Upper bound of the bucket holding the 99th percentile tick lateness, ms. */
  lateP99Bound: number;
  maxStallMs: number;
  /**
   * The longest stall less the time the main thread waited for a CPU meanwhile: the loop's own
   * work, without other processes' (`NaN` where the scheduler's counters are not readable).
   */
  maxOwnStallMs: number;
  stalls5: number;
  stalls20: number;
  commits: number;
  commitMsTotal: number;
  maxCommitMs: number;
  commits5: number;
  commits10: number;
  /** Commits that ran a WAL checkpoint: how many, their time in all, the longest. */
  checkpoints: number;
  checkpointMsTotal: number;
  maxCheckpointMs: number;
  /** Checkpoints seen between commits: off the main thread. */
  backgroundCheckpoints: number;
  /** Stalls of 5 (20) ms or more that overlap a commit of 5 ms or more or a checkpoint. */
  stalls5InCommit: number;
  stalls20InCommit: number;
  /** Size of the data folder's files at the end (database + WAL), MiB. */
  dataMiB: number;
}

const now = () => performance.timeOrigin + performance.now();

async function spawnProbed(
  name: string,
  flags: string[],
  dataDir: string | undefined,
  checkpoint: "auto" | "off",
  checkout?: string,
): Promise<Probed> {
  const probed: Omit<Probed, "server"> = { name, dataDir, stalls: [], commits: [], totals: [] };
  const server = await spawnQuillflow(
    [
      "--probe-checkpoint",
      checkpoint,
      ...flags,
      ...(dataDir ? ["--store", "sqlite", "--data-dir", dataDir] : []),
    ],
    undefined,
    checkout,
    {
      entry: "bench/stall_probe.ts",
      // Deno 2.9 opens a thread's `/proc/.../schedstat` only with all access: the probe reads
      // it to tell the loop's own stalls from waits for a CPU.
      denoFlags: ["--allow-all"],
      onLine: (line) => {
        const space = line.indexOf(" ");
        const kind = line.slice(0, space);
        if (kind === "STALL") probed.stalls.push(JSON.parse(line.slice(space + 1)));
        else if (kind === "COMMIT") probed.commits.push(JSON.parse(line.slice(space + 1)));
        else if (kind === "PROBE") {
          probed.totals.push({ at: now(), totals: JSON.parse(line.slice(space + 1)) });
        }
      },
    },
  );
  return { ...probed, server };
}

async function totalsAfter(p: Probed, at: number): Promise<ProbeTotals> {
  for (let waited = 0; waited < 5_000; waited += 100) {
    const found = p.totals.find((t) => t.at > at);
    if (found) return found.totals;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${p.name} printed no PROBE line: is bench/stall_probe.ts running?`);
}

async function dataSize(dir: string | undefined): Promise<number> {
  if (!dir) return 0;
  let bytes = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile) bytes += (await Deno.stat(`${dir}/${entry.name}`)).size;
  }
  return bytes / 1024 / 1024;
}

async function measure(
  p: Probed,
  jobs: number,
  concurrency: number,
  offlineDelayMs: number,
): Promise<StallFigures> {
  const t0 = now();
  const before = await totalsAfter(p, t0 - 1_500);
  const cpu0 = await readCpuSeconds(p.server.pid);
  const started = performance.now();
  const results = await runPool(
    jobs,
    concurrency,
    (i) => runJob(p.server.url, "compat", `benchmark topic ${i % 50}`),
  );
  const wallS = (performance.now() - started) / 1000;
  const cpu1 = await readCpuSeconds(p.server.pid);
  const t1 = now();
  const after = await totalsAfter(p, t1);
  const inWindow = (x: Timed) => x.at >= t0 && x.at <= t1;
  const stalls = p.stalls.filter(inWindow);
  const commits = p.commits.filter(inWindow);
  const long = commits.filter((c) => c.ms >= 10);
  // A tick late by L ms was due L ms before it ran, and the loop was blocked from up to one
  // period (4 ms) before that.
  const overlaps = (s: Timed) =>
    commits.some((c) => c.at - c.ms <= s.at && s.at - s.ms - 4 <= c.at);
  const histogram = after.histogram.map((n, i) => n - (before.histogram[i] ?? 0));
  const ticks = after.ticks - before.ticks;
  let seen = 0;
  let bucket = histogram.findIndex((n) => (seen += n) >= 0.99 * ticks);
  if (bucket === -1) bucket = histogram.length - 1;
  const errors = results.filter((r) => r instanceof Error).length;
  return {
    name: p.name,
    offlineDelayMs,
    concurrency,
    jobs,
    errors,
    jobsPerSecond: (jobs - errors) / wallS,
    cpuMsPerJob: (cpu1 - cpu0) * 1000 / jobs,
    ticks,
    lateP99Bound: BUCKETS_MS[bucket] ?? Infinity,
    maxStallMs: Math.max(0, ...stalls.map((s) => s.ms)),
    maxOwnStallMs: stalls.some((s) => s.waitMs === undefined)
      ? NaN
      : Math.max(0, ...stalls.map((s) => s.ms - (s.waitMs as number))),
    stalls5: stalls.length,
    stalls20: stalls.filter((s) => s.ms >= 20).length,
    commits: after.commits - before.commits,
    commitMsTotal: after.commitMs - before.commitMs,
    maxCommitMs: Math.max(0, ...commits.map((c) => c.ms)),
    commits5: commits.filter((c) => c.ms >= 5).length,
    commits10: long.length,
    checkpoints: after.checkpoints - before.checkpoints,
    checkpointMsTotal: after.checkpointMs - before.checkpointMs,
    maxCheckpointMs: Math.max(0, ...commits.filter((c) => c.checkpoint).map((c) => c.ms)),
    backgroundCheckpoints: (after.backgroundCheckpoints ?? 0) - (before.backgroundCheckpoints ?? 0),
    stalls5InCommit: stalls.filter(overlaps).length,
    stalls20InCommit: stalls.filter((s) => s.ms >= 20 && overlaps(s)).length,
    dataMiB: await dataSize(p.dataDir),
  };
}

/** Options of {@linkcode runLoopStalls}. */
export interface StallOptions {
  jobs: number;
  warmup: number;
  /** Offline delay per call (ms) and jobs in flight of each load. */
  loads: { delayMs: number; concurrency: number }[];
  /** Another checkout whose sqlite store runs instead of the A/B one. */
  compare?: string;
}

/** Runs each load against the three instances; returns their figures. */
export async function runLoopStalls(options: StallOptions): Promise<StallFigures[]> {
  const out: StallFigures[] = [];
  for (const { delayMs: delay, concurrency } of options.loads) {
    const load = `${delay} ms per call, ${concurrency} in flight`;
    const jobs = Math.min(options.jobs, 50 * concurrency);
    console.log(`${load}: machine at start: ${await describeMachine()}`);
    const flags = [
      "--offline-delay-ms",
      String(delay),
      "--max-concurrent-jobs",
      String(concurrency),
      "--max-queued-jobs",
      String(concurrency * 2),
    ];
    const instances: Probed[] = [];
    try {
      instances.push(await spawnProbed("memory", flags, undefined, "auto"));
      instances.push(await spawnProbed("sqlite", flags, benchDataDir(), "auto"));
      instances.push(
        options.compare
          ? await spawnProbed(
            `sqlite, ${options.compare}`,
            flags,
            benchDataDir(),
            "auto",
            options.compare,
          )
          : await spawnProbed("sqlite, checkpoints off", flags, benchDataDir(), "off"),
      );
      for (const p of instances) {
        await runPool(
          options.warmup,
          concurrency,
          (i) => runJob(p.server.url, "compat", `warm-up ${i}`),
        );
      }
      const figures: StallFigures[] = [];
      for (const p of instances) {
        figures.push(await measure(p, jobs, concurrency, delay));
      }
      console.log(stallTable(figures));
      out.push(...figures);
    } finally {
      await Promise.all(instances.map((p) => p.server.stop()));
      for (const p of instances) if (p.dataDir) await removeBenchDataDir(p.dataDir);
    }
    console.log(`${load}: machine at end: ${await describeMachine()}`);
  }
  return out;
}

/** The figures as a table. */
export function stallTable(figures: StallFigures[]): string {
  return formatTable(
    [
      "load",
      "instance",
      "ok/jobs",
      "jobs/s",
      "CPU ms/job",
      "ticks",
      "lateness p99 ≤ ms",
      "longest stall ms",
      "… less CPU wait ms",
      "stalls ≥ 5 ms",
      "stalls ≥ 20 ms",
      "commits",
      "commit ms (all)",
      "longest commit ms",
      "commits ≥ 5 ms",
      "commits ≥ 10 ms",
      "checkpoints",
      "checkpoint ms (all)",
      "longest checkpoint ms",
      "checkpoints off the loop",
      "stalls ≥ 5 (≥ 20) ms in a slow commit",
      "data MiB",
    ],
    figures.map((f) => [
      `${f.offlineDelayMs} ms × ${f.concurrency}`,
      f.name,
      `${f.jobs - f.errors}/${f.jobs}`,
      fixed(f.jobsPerSecond, 0),
      fixed(f.cpuMsPerJob, 3),
      String(f.ticks),
      fixed(f.lateP99Bound, 0),
      fixed(f.maxStallMs),
      fixed(f.maxOwnStallMs),
      String(f.stalls5),
      String(f.stalls20),
      String(f.commits),
      fixed(f.commitMsTotal, 0),
      fixed(f.maxCommitMs),
      String(f.commits5),
      String(f.commits10),
      String(f.checkpoints),
      fixed(f.checkpointMsTotal, 0),
      fixed(f.maxCheckpointMs),
      String(f.backgroundCheckpoints),
      `${f.stalls5InCommit}/${f.stalls5} (${f.stalls20InCommit}/${f.stalls20})`,
      fixed(f.dataMiB),
    ]),
  );
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      jobs: { type: "string", default: "2000" },
      warmup: { type: "string", default: "300" },
      loads: { type: "string", default: "0x100,50x100,50x20" },
      compare: { type: "string", default: "" },
    },
  });
  const loads = values.loads.split(",").map((load) => {
    const [delayMs, concurrency] = load.split("x").map(Number);
    if (
      delayMs === undefined || concurrency === undefined || !Number.isInteger(delayMs) ||
      !Number.isInteger(concurrency) || concurrency <= 0
    ) {
      throw new TypeError(`A load is DELAYxCONCURRENCY, such as 50x20, not ${load}`);
    }
    return { delayMs, concurrency };
  });
  const figures = await runLoopStalls({
    jobs: Number(values.jobs),
    warmup: Number(values.warmup),
    loads,
    ...(values.compare ? { compare: values.compare } : {}),
  });
  console.log(stallTable(figures));
  console.log(`FIGURES ${JSON.stringify({ kind: "stalls", figures })}`);
}
