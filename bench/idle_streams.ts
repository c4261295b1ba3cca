/**
 * Idle streams: K open event streams on one instance, nothing happening on them. The figure is
 * resident memory per stream, (VmRSS with K streams − VmRSS before) / K, on the floor and on
 * Quillflow, and whether every stream got a heartbeat while idle.
 *
 * Quillflow holds one job that never gets past its first call (offline writer, one day per call)
 * and every stream watches it; the floor holds its streams with `--hold`. Both run with the same
 * heartbeat interval and an open-files limit above K. Before measuring, each instance opens and
 * closes a few hundred streams so its code is compiled and its pools are warm.
 *
 * Run: `deno run --allow-net=127.0.0.1 --allow-run --allow-read bench/idle_streams.ts --streams 10000`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { spawnFloor, spawnQuillflow } from "./bench_servers.ts";
import { fixed, formatTable } from "./figures_table.ts";
import { submitNative } from "./job_client.ts";
import { readMemory } from "./process_stats.ts";
import type { SpawnedServer } from "./spawned_server.ts";
import { openWatchers, type StreamWatcher } from "./stream_watcher.ts";

/** What one idle-streams run measured. */
export interface IdleFigures {
  name: string;
  streams: number;
  /** Streams that opened and got their first event. */
  opened: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  kibPerStream: number;
  /** Streams that received a heartbeat after every stream was open. */
  heartbeats: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function measure(
  name: string,
  server: SpawnedServer,
  streams: number,
  heartbeatMs: number,
): Promise<IdleFigures> {
  const url = `${server.url}/api/jobs/${await submitNative(server.url, "idle topic")}/events`;
  const warm = await openWatchers(url, 500);
  for (const w of warm) w.close();
  await sleep(1_000);
  const before = await readMemory(server.pid);
  let watchers: StreamWatcher[] = [];
  try {
    watchers = await openWatchers(url, streams, 500);
    await sleep(1_000);
    const after = await readMemory(server.pid);
    const pingsAtOpen = watchers.map((w) => w.pings);
    // Every stream must see a heartbeat within about one interval of being idle.
    await sleep(heartbeatMs * 2 + 500);
    const heartbeats = watchers.filter((w, i) => w.pings > (pingsAtOpen[i] as number)).length;
    return {
      name,
      streams,
      opened: watchers.filter((w) => w.error === undefined && w.events > 0).length,
      rssBeforeMiB: before.rssKiB / 1024,
      rssAfterMiB: after.rssKiB / 1024,
      kibPerStream: (after.rssKiB - before.rssKiB) / streams,
      heartbeats,
    };
  } finally {
    for (const w of watchers) w.close();
  }
}

/** Measures `streams` idle streams on the floor, then on Quillflow. */
export async function runIdleStreams(streams: number, heartbeatMs: number): Promise<IdleFigures[]> {
  const openFiles = streams + 2_048;
  const results: IdleFigures[] = [];
  const beat = String(heartbeatMs);
  const floor = await spawnFloor(["--hold", "--heartbeat-ms", beat], openFiles);
  try {
    results.push(await measure("floor", floor, streams, heartbeatMs));
  } finally {
    await floor.stop(2_000);
  }
  const service = await spawnQuillflow(
    ["--offline-delay-ms", "86400000", "--heartbeat-ms", beat, "--shutdown-grace-ms", "0"],
    openFiles,
  );
  try {
    results.push(await measure("quillflow", service, streams, heartbeatMs));
  } finally {
    await service.stop(5_000);
  }
  return results;
}

/** The figures as a table with Quillflow's ratio to the floor. */
export function idleTable(figures: IdleFigures[]): string {
  const floor = figures.find((f) => f.name === "floor");
  const rows = figures.map((f) => [
    f.name,
    `${f.opened}/${f.streams}`,
    fixed(f.rssBeforeMiB),
    fixed(f.rssAfterMiB),
    fixed(f.kibPerStream),
    floor ? fixed(f.kibPerStream / floor.kibPerStream, 2) : "-",
    `${f.heartbeats}/${f.streams}`,
  ]);
  return formatTable(
    [
      "instance",
      "open streams",
      "RSS before MiB",
      "RSS after MiB",
      "KiB/stream",
      "÷ floor",
      "got heartbeat",
    ],
    rows,
  );
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      streams: { type: "string", default: "10000" },
      "heartbeat-ms": { type: "string", default: "5000" },
    },
  });
  const streams = Number(values.streams);
  const figures = await runIdleStreams(streams, Number(values["heartbeat-ms"]));
  console.log(`idle streams: ${streams} per instance, heartbeat ${values["heartbeat-ms"]} ms`);
  console.log(idleTable(figures));
  console.log(`FIGURES ${JSON.stringify({ kind: "idle", figures })}`);
}
