/**
 * Fan-out: one job watched by M clients. Events carry no timestamps, so delivery is timed
 * against an observer: a stream opened before every watcher, so it is the job's first
 * subscriber and is written first. For each event, the spread is the time from its first arrival
 * at any client (the observer's, or earlier where this process read another stream first) to its
 * arrival at the last watcher; the figures are the p50/p99 of that spread over the job's live
 * events, and of every (watcher, event) delay from the same first arrival. All clients live in this one
 * process, so the spread includes this process reading M streams (see BENCHMARKS.md).
 *
 * The job waits in the queue while the watchers connect: Quillflow runs with one job slot and
 * enough blocker jobs ahead of it to outlast the connecting (`--blockers`); cancelling them
 * starts the watched job, and the run fails if it had started before. The floor holds its
 * streams (`--hold`) until told to release the events, `--floor-gap-ms` apart.
 *
 * Run: `deno run --allow-net=127.0.0.1 --allow-run --allow-read bench/fanout.ts --watchers 5000`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { spawnFloor, spawnQuillflow } from "./bench_servers.ts";
import { fixed, formatTable } from "./figures_table.ts";
import { submitNative } from "./job_client.ts";
import { percentile } from "./percentile.ts";
import { readCpuSeconds } from "./process_stats.ts";
import type { SpawnedServer } from "./spawned_server.ts";
import { openWatchers, StreamWatcher } from "./stream_watcher.ts";

/** What one fan-out run measured. */
export interface FanoutFigures {
  name: string;
  watchers: number;
  /** Live events the observer saw (the replayed first one excluded). */
  events: number;
  /** Watchers that received every event the observer received. */
  complete: number;
  /** First-to-last-client spread per event, ms. */
  lastP50: number;
  lastP99: number;
  /** First-arrival-to-watcher delay over every (watcher, event), ms. */
  eachP50: number;
  eachP99: number;
  /** Server CPU from the release to the end, ms. */
  serverCpuMs: number;
}

async function measure(
  name: string,
  server: SpawnedServer,
  watchers: number,
  release: (jobId: string) => Promise<void>,
  jobId: string,
): Promise<FanoutFigures> {
  const url = `${server.url}/api/jobs/${jobId}/events`;
  const observer = new StreamWatcher(url);
  await observer.firstEvent;
  const all = await openWatchers(url, watchers);
  const cpu0 = await readCpuSeconds(server.pid);
  await release(jobId);
  // Bounded: a stream that never ends is closed and shows up as incomplete, not as a hang.
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all([observer.ended, ...all.map((w) => w.ended)]),
    new Promise((resolve) => timer = setTimeout(resolve, 120_000)),
  ]);
  clearTimeout(timer);
  for (const w of [observer, ...all]) w.close();
  const cpu1 = await readCpuSeconds(server.pid);
  const ids: number[] = [];
  for (let id = 2; id < observer.arrivals.length; id++) {
    if (!Number.isNaN(observer.arrivals[id])) ids.push(id);
  }
  const last: number[] = [];
  const each = new Float64Array(ids.length * all.length);
  let n = 0;
  let complete = 0;
  for (const w of all) {
    if (ids.every((id) => !Number.isNaN(w.arrivals[id])) && w.error === undefined) complete++;
  }
  for (const id of ids) {
    // The first arrival anywhere: the observer is written first, but this one process may read
    // another stream's bytes before the observer's.
    let t0 = observer.arrivals[id] as number;
    for (const w of all) {
      const t = w.arrivals[id] as number;
      if (t < t0) t0 = t;
    }
    let latest = t0;
    for (const w of all) {
      const t = w.arrivals[id] as number;
      if (Number.isNaN(t)) continue;
      each[n++] = t - t0;
      if (t > latest) latest = t;
    }
    last.push(latest - t0);
  }
  const delays = each.subarray(0, n);
  return {
    name,
    watchers,
    events: ids.length,
    complete,
    lastP50: percentile(last, 50),
    lastP99: percentile(last, 99),
    eachP50: percentile(delays, 50),
    eachP99: percentile(delays, 99),
    serverCpuMs: (cpu1 - cpu0) * 1000,
  };
}

async function cancel(url: string, id: string): Promise<void> {
  const response = await fetch(`${url}/api/jobs/${id}`, { method: "DELETE" });
  await response.body?.cancel();
}

async function statusOf(url: string, id: string): Promise<string> {
  const response = await fetch(`${url}/api/jobs/${id}`);
  return ((await response.json()) as { status: string }).status;
}

/** Runs fan-out to `watchers` clients on the floor and on Quillflow (offline, `delayMs` per call). */
export async function runFanout(
  watchers: number,
  delayMs: number,
  floorGapMs: number,
  blockers: number,
): Promise<FanoutFigures[]> {
  const openFiles = watchers * 2 + 1_024;
  const results: FanoutFigures[] = [];
  const floor = await spawnFloor(["--hold"], openFiles);
  try {
    const jobId = await submitNative(floor.url, "fan-out topic");
    results.push(
      await measure("floor", floor, watchers, async (id) => {
        const r = await fetch(`${floor.url}/floor/release/${id}?gapMs=${floorGapMs}`, {
          method: "POST",
        });
        await r.body?.cancel();
      }, jobId),
    );
  } finally {
    await floor.stop();
  }
  const service = await spawnQuillflow([
    "--offline-delay-ms",
    String(delayMs),
    "--max-concurrent-jobs",
    "1",
    "--max-queued-jobs",
    String(blockers + 10),
  ], openFiles);
  try {
    const ahead: string[] = [];
    for (let i = 0; i < blockers; i++) ahead.push(await submitNative(service.url, `blocker ${i}`));
    const jobId = await submitNative(service.url, "fan-out topic");
    results.push(
      await measure("quillflow", service, watchers, async (id) => {
        const status = await statusOf(service.url, id);
        if (status !== "queued") {
          throw new Error(`The watched job was ${status} before release: raise --blockers`);
        }
        // The queued ones first, the running one last, so no blocker starts in between.
        for (const blocker of ahead.toReversed()) await cancel(service.url, blocker);
      }, jobId),
    );
  } finally {
    await service.stop();
  }
  return results;
}

/** The figures as a table. */
export function fanoutTable(figures: FanoutFigures[]): string {
  return formatTable(
    [
      "instance",
      "watchers",
      "live events",
      "got every event",
      "last-client p50 ms",
      "last-client p99 ms",
      "each p50 ms",
      "each p99 ms",
      "server CPU ms",
    ],
    figures.map((f) => [
      f.name,
      String(f.watchers),
      String(f.events),
      `${f.complete}/${f.watchers}`,
      fixed(f.lastP50),
      fixed(f.lastP99),
      fixed(f.eachP50),
      fixed(f.eachP99),
      fixed(f.serverCpuMs, 0),
    ]),
  );
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      watchers: { type: "string", default: "5000" },
      "offline-delay-ms": { type: "string", default: "1000" },
      "floor-gap-ms": { type: "string", default: "50" },
      blockers: { type: "string", default: "60" },
    },
  });
  const watchers = Number(values.watchers);
  const figures = await runFanout(
    watchers,
    Number(values["offline-delay-ms"]),
    Number(values["floor-gap-ms"]),
    Number(values.blockers),
  );
  console.log(`fan-out: one job, ${watchers} watchers + 1 observer`);
  console.log(fanoutTable(figures));
  console.log(`FIGURES ${JSON.stringify({ kind: "fanout", figures })}`);
}
