/**
 * Quillflow's command line (`main.ts`) with two probes beside it, so event-loop stalls are
 * measured with no change to `src/`:
 *
 * - a timer-lag probe: a `setTimeout` chain every `PROBE_PERIOD_MS` (4 ms: shorter ones are
 *   clamped to 4 ms once nested) records how late each tick ran; a loop blocked for S ms shows
 *   as a tick up to S ms late.
 * - SQL timing: `DatabaseSync.prototype.exec` of `node:sqlite` is wrapped to time every call,
 *   so each `COMMIT` of the durable store (its group commit, where SQLite ran its automatic WAL
 *   checkpoints) is timed where it runs, on the main thread. In WAL mode only a checkpoint
 *   writes to the database file (`--data-dir`/quillflow.db): a commit during which the file's
 *   size or modification time changed ran one on the main thread; a change between two commits
 *   is a checkpoint that ran elsewhere (the store's checkpoint Worker), counted apart.
 *
 * Each tick also reads the main thread's scheduler counters (`/proc/thread-self/schedstat`, Linux:
 * time on a CPU and time waiting for one, in ns), so a late tick tells the loop's own work from
 * the thread waiting for a core that other processes held: on a shared 2-core machine running
 * the LLM server and the load clients too, much of a stall can be the latter.
 *
 * About every second it also runs `stallProbeMarker`, a 1 ms busy loop, and prints `MARK {"at"}`: under
 * `--cpu-prof` those samples tie the profile's clock to the printed times, so
 * `stall_attribution.ts` can say what ran during each stall.
 *
 * It prints, on stdout, `STALL {"at","ms","runMs","waitMs"}` for each tick at least 5 ms late
 * (`runMs`/`waitMs`: the thread's time on a CPU and waiting for one since the previous tick),
 * `COMMIT {"at","ms","checkpoint"}` for each `COMMIT` that long or that checkpointed (`at`: ms
 * since the epoch when it ended), and every second `PROBE {json}` with running totals (`bench/loop_stalls.ts` reads
 * them). `--probe-checkpoint off` turns SQLite's automatic checkpoints off
 * (`wal_autocheckpoint = 0`) right after the store sets WAL mode: the A/B run that tells whether
 * the long commits are checkpoints.
 *
 * Run: `deno run --allow-net --allow-env --allow-read --allow-write bench/stall_probe.ts
 * [--probe-checkpoint off] --port 0 --store sqlite --data-dir /tmp/x` (every other flag is the
 * command's own)
 *
 * @module
 */

import { processEnv } from "../src/core/process_env.ts";
import { DatabaseSync } from "node:sqlite";
import denoJson from "../deno.json" with { type: "json" };
import { runCli } from "../src/cli.ts";

const PERIOD_MS = 4;
const REPORT_MS = 5;
/** Upper bounds of the lateness histogram's buckets, ms; the last bucket is open. */
export const BUCKETS_MS = [1, 2, 5, 10, 20, 50, 100];

/** The running totals of a `PROBE` line. */
export interface ProbeTotals {
  ticks: number;
  /** Ticks by lateness, one count per `BUCKETS_MS` bucket and one above the last. */
  histogram: number[];
  maxLateMs: number;
  commits: number;
  commitMs: number;
  maxCommitMs: number;
  /** Commits that ran a checkpoint, and their time. */
  checkpoints: number;
  checkpointMs: number;
  /** Checkpoints off the main thread (at least: several between two commits count once). */
  backgroundCheckpoints: number;
  checkpoint: "auto" | "off";
}

const now = () => performance.timeOrigin + performance.now();

/**
 * Spins for 1 ms, a span a CPU profile samples under this function's name; returns when it
 * started, ms since the epoch.
 */
function stallProbeMarker(): number {
  const start = performance.now();
  while (performance.now() - start < 1) { /* spin */ }
  return performance.timeOrigin + start;
}

/**
 * A reader of this thread's `[ns on a CPU, ns waiting for one]`, or `undefined` where the file
 * cannot be read (not Linux, no permission). Read through one open file, from its start each time.
 */
function openSchedstat(): (() => [number, number]) | undefined {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync("/proc/thread-self/schedstat");
  } catch {
    return undefined;
  }
  const buffer = new Uint8Array(128);
  const decoder = new TextDecoder();
  return () => {
    file.seekSync(0, Deno.SeekMode.Start);
    const n = file.readSync(buffer) ?? 0;
    const [run, wait] = decoder.decode(buffer.subarray(0, n)).split(" ");
    return [Number(run), Number(wait)];
  };
}

function startProbe(checkpoint: "auto" | "off", databaseFile: string | undefined): ProbeTotals {
  const totals: ProbeTotals = {
    ticks: 0,
    histogram: new Array(BUCKETS_MS.length + 1).fill(0),
    maxLateMs: 0,
    commits: 0,
    commitMs: 0,
    maxCommitMs: 0,
    checkpoints: 0,
    checkpointMs: 0,
    backgroundCheckpoints: 0,
    checkpoint,
  };
  let written = "";
  const databaseWritten = () => {
    try {
      if (!databaseFile) return "";
      const info = Deno.statSync(databaseFile);
      return `${info.size} ${info.mtime?.getTime()}`;
    } catch {
      return ""; // not created yet
    }
  };
  const schedstat = openSchedstat();
  let sched = schedstat?.() ?? [0, 0];
  let due = performance.now() + PERIOD_MS;
  const tick = () => {
    const at = performance.now();
    const counters = schedstat?.() ?? [0, 0];
    const runMs = (counters[0] - sched[0]) / 1e6;
    const waitMs = (counters[1] - sched[1]) / 1e6;
    sched = counters;
    const late = Math.max(0, at - due);
    totals.ticks++;
    let bucket = BUCKETS_MS.findIndex((limit) => late < limit);
    if (bucket === -1) bucket = BUCKETS_MS.length;
    totals.histogram[bucket] = (totals.histogram[bucket] ?? 0) + 1;
    totals.maxLateMs = Math.max(totals.maxLateMs, late);
    if (late >= REPORT_MS) {
      const stall = schedstat
        ? { at: performance.timeOrigin + at, ms: late, runMs, waitMs }
        : { at: performance.timeOrigin + at, ms: late };
      console.log(`STALL ${JSON.stringify(stall)}`);
    }
    due = performance.now() + PERIOD_MS;
    Deno.unrefTimer(setTimeout(tick, PERIOD_MS));
  };
  Deno.unrefTimer(setTimeout(tick, PERIOD_MS));
  Deno.unrefTimer(setInterval(() => console.log(`PROBE ${JSON.stringify(totals)}`), 1000));
  // Spaced unevenly (0.7-1.3 s), so the pattern of spins in a profile fits its marks one way only.
  let marks = 0;
  const mark = () => {
    const at = stallProbeMarker();
    console.log(`MARK ${JSON.stringify({ at })}`);
    Deno.unrefTimer(setTimeout(mark, 700 + (++marks * 137) % 600));
  };
  Deno.unrefTimer(setTimeout(mark, 1000));

  const exec = DatabaseSync.prototype.exec;
  DatabaseSync.prototype.exec = function (this: DatabaseSync, sql: string): void {
    const before = sql === "COMMIT" ? databaseWritten() : "";
    const started = performance.now();
    try {
      exec.call(this, sql);
      if (checkpoint === "off" && /^\s*PRAGMA journal_mode\s*=\s*WAL/i.test(sql)) {
        exec.call(this, "PRAGMA wal_autocheckpoint = 0");
      }
    } finally {
      if (sql === "COMMIT") {
        const ms = performance.now() - started;
        totals.commits++;
        totals.commitMs += ms;
        totals.maxCommitMs = Math.max(totals.maxCommitMs, ms);
        const after = databaseWritten();
        const checkpointed = after !== before && before !== "";
        if (before !== written && written !== "") totals.backgroundCheckpoints++;
        written = after;
        if (checkpointed) {
          totals.checkpoints++;
          totals.checkpointMs += ms;
        }
        if (ms >= REPORT_MS || checkpointed) {
          console.log(`COMMIT ${JSON.stringify({ at: now(), ms, checkpoint: checkpointed })}`);
        }
      }
    }
  };
  return totals;
}

if (import.meta.main) {
  const args = [...Deno.args];
  const at = args.indexOf("--probe-checkpoint");
  const checkpoint = at !== -1 && args.splice(at, 2)[1] === "off" ? "off" : "auto";
  const dir = args.indexOf("--data-dir");
  startProbe(checkpoint, dir === -1 ? undefined : `${args[dir + 1]}/quillflow.db`);
  Deno.exit(await runCli(args, processEnv, denoJson.version));
}
