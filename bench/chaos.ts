/**
 * The fault campaign: what Quillflow survives, measured. Six scenarios, each under load and each
 * ending with a check of every accepted job and every followed stream (see `bench/chaos/`):
 *
 * 1. crash loop on the SQLite store (SIGKILL every 2–4 s, restart on the same data directory);
 * 2. a full disk (the data directory on a 4 MiB tmpfs; without root, a capped SQLite file);
 * 3. Redis killed with `kill -9` mid-load and restarted 3 s later, AOF `always` and `everysec`;
 * 4. three instances on Redis, one killed with SIGKILL every 5 s and restarted;
 * 5. a bad LLM (500 on 20 % of calls, 10 % of streams cut midway, 5 % never answered);
 * 6. client churn: 1,000 event-stream clients connecting and dropping at random during 1.
 *
 * It prints one table (figures in docs/reliability.md) and exits with status 1 unless every row
 * holds.
 *
 *   deno task chaos                 # all six
 *   deno task chaos --only 2,5      # some (6 runs with 1)
 *
 * @module
 */

import { join } from "node:path";
import { describeMachine } from "./process_stats.ts";
import { hasRedisServer } from "../testing/redis_cluster.ts";
import { badLlm } from "./chaos/bad_llm.ts";
import { crashLoop } from "./chaos/crash_loop.ts";
import { canMountTmpfs, diskFull, startOnTmpfs, startWithPageCap } from "./chaos/disk_full.ts";
import { instanceLoss } from "./chaos/instance_loss.ts";
import { redisDeath } from "./chaos/redis_death.ts";
import { formatRows, holds, type ScenarioRow } from "./chaos/scenario_row.ts";
import { seconds } from "./chaos/timing.ts";

function parseOnly(args: string[]): Set<number> {
  const at = args.indexOf("--only");
  const list = at === -1 ? "1,2,3,4,5,6" : args[at + 1] ?? "";
  const picked = new Set(list.split(",").map(Number));
  for (const n of picked) {
    if (!(n >= 1 && n <= 6 && Number.isInteger(n))) {
      throw new TypeError(`--only takes scenario numbers from 1 to 6: current value is ${list}`);
    }
  }
  return picked;
}

/** A row for a scenario that could not run here, so the table says so and fails. */
function notRun(scenario: string, why: string): ScenarioRow {
  return {
    scenario,
    accepted: 0,
    completed: 0,
    failed: new Map(),
    lost: 0,
    streamsChecked: 0,
    streamsBad: 0,
    articlesChecked: 0,
    articlesMatch: 0,
    longestWaitMs: 0,
    recovery: "-",
    checks: [{ what: "the scenario ran", ok: false, detail: why }],
    notes: [],
  };
}

if (import.meta.main) {
  const only = parseOnly(Deno.args);
  const log = (line: string) => console.error(line);
  const began = performance.now();
  const work = await Deno.makeTempDir({ prefix: "quillflow-chaos-" });
  const rows: ScenarioRow[] = [];
  const redis = await hasRedisServer();
  console.log(`deno task chaos${Deno.args.length ? ` ${Deno.args.join(" ")}` : ""}`);
  console.log(`machine: ${await describeMachine()}`);
  try {
    if (only.has(1) || only.has(6)) {
      log("1 crash loop (SQLite)" + (only.has(6) ? " with 6 client churn" : ""));
      rows.push(
        ...await crashLoop({
          dataDir: join(work, "crash-loop"),
          jobs: 300,
          lanes: 30,
          kills: 10,
          killEveryMs: [2_000, 4_000],
          offlineDelayMs: 50,
          maxConcurrentJobs: 2,
          ...(only.has(6)
            ? { churn: { clients: 1_000, concurrent: 40, holdMs: [50, 1_500] } }
            : {}),
          log,
        }),
      );
    }
    if (only.has(2)) {
      log("2 disk full");
      const flags = ["--offline-delay-ms", "20", "--max-queued-jobs", "100000"];
      const why = await canMountTmpfs(join(work, "probe-mount"));
      // Without root, the SQLite file is capped instead (PRAGMA max_page_count), in-process.
      const target = why === null
        ? await startOnTmpfs(join(work, "disk"), 4, [...flags, "--log-level", "error"])
        : await startWithPageCap(join(work, "disk"), [...flags, "--log-level", "silent"]);
      if (why !== null) log(`  cannot mount a tmpfs (${why}): capping the SQLite file instead`);
      try {
        rows.push(
          await diskFull(
            why === null ? "2 disk full (4 MiB tmpfs)" : "2 disk full (page cap)",
            target,
            {
              jobsBefore: 30,
              jobsAfter: 30,
              lanes: 10,
              holdMs: 3_000,
              log,
            },
          ),
        );
      } finally {
        await target.close();
      }
    }
    if (only.has(3)) {
      for (const appendfsync of ["always", "everysec"] as const) {
        log(`3 Redis dies (appendfsync ${appendfsync})`);
        rows.push(
          redis
            ? await redisDeath({
              workDir: work,
              appendfsync,
              jobs: 200,
              lanes: 20,
              killAfter: 80,
              downMs: 3_000,
              offlineDelayMs: 50,
              log,
            })
            : notRun(`3 Redis dies (${appendfsync})`, "redis-server is not installed"),
        );
      }
    }
    if (only.has(4)) {
      log("4 instance loss");
      rows.push(
        redis
          ? await instanceLoss({
            workDir: work,
            jobs: 300,
            lanes: 30,
            killEveryMs: 5_000,
            jobLockMs: 3_000,
            maxConcurrentJobs: 2,
            offlineDelayMs: 200,
            log,
          })
          : notRun("4 instance loss", "redis-server is not installed"),
      );
    }
    if (only.has(5)) {
      log("5 bad LLM");
      rows.push(
        await badLlm({
          dataDir: join(work, "bad-llm"),
          jobs: 60,
          lanes: 20,
          rates: { error: 0.2, cut: 0.1, hang: 0.05 },
          maxAttempts: 5,
          timeoutMs: 3_000,
          maxConcurrentJobs: 8,
        }),
      );
    }
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
  console.log(formatRows(rows));
  const failing = rows.filter((row) => !holds(row));
  console.log(
    `\n${rows.length - failing.length} of ${rows.length} rows hold; ${
      seconds(performance.now() - began)
    } in all`,
  );
  if (failing.length > 0) Deno.exit(1);
}
