/**
 * Scenario 4, instance loss: three instances on one Redis under load; every few seconds one of
 * them is killed with SIGKILL and started again. Its running jobs must be taken over by another
 * instance (after `JOB_LOCK_MS`) and finish with whole streams; its watchers reconnect elsewhere.
 *
 * @module
 */

import { RedisServer } from "../../testing/redis_cluster.ts";
import { Ledger } from "./ledger.ts";
import { runLanes } from "./load_lanes.ts";
import { rowFromLedger, type ScenarioRow } from "./scenario_row.ts";
import type { ServiceChild } from "./service_child.ts";
import { startRedisInstance } from "./redis_death.ts";
import { median, seconds, sleep } from "./timing.ts";

/** The log line of an instance that takes over a job another one left unfinished. */
const RESUMED = '"msg":"job resumed"';

/** Options for {@linkcode instanceLoss}. */
export interface InstanceLossOptions {
  /** Where Redis keeps its files (a folder is made inside). */
  workDir: string;
  /** Jobs to get accepted. */
  jobs: number;
  /** Clients at once. */
  lanes: number;
  /** A kill this often, in ms. */
  killEveryMs: number;
  /** `JOB_LOCK_MS` of the instances. */
  jobLockMs: number;
  /** `MAX_CONCURRENT_JOBS` of each instance. */
  maxConcurrentJobs: number;
  /** The offline writer's time per call. */
  offlineDelayMs: number;
  /** Everything must be over by this many ms. Default 240 000. */
  budgetMs?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** Runs scenario 4; resolves with its row. */
export async function instanceLoss(options: InstanceLossOptions): Promise<ScenarioRow> {
  const log = options.log ?? (() => {});
  const deadline = performance.now() + (options.budgetMs ?? 240_000);
  const redis = await RedisServer.start(options.workDir);
  const extra = [
    "--offline-delay-ms",
    String(options.offlineDelayMs),
    "--job-lock-ms",
    String(options.jobLockMs),
    "--max-concurrent-jobs",
    String(options.maxConcurrentJobs),
  ];
  const start = (name: string) =>
    startRedisInstance(name, redis.url, [...extra, "--log-level", "info"], [RESUMED]);
  let resumed = 0;
  const instances: ServiceChild[] = [];
  try {
    for (const name of ["A", "B", "C"]) instances.push(await start(name));
    // A client whose instance is down tries the next one, as a load balancer would.
    const down = new Set<number>();
    const at = (n: number) => {
      for (let i = 0; i < instances.length; i++) {
        const k = (n + i) % instances.length;
        if (!down.has(k)) return (instances[k] as ServiceChild).url;
      }
      return (instances[0] as ServiceChild).url;
    };
    const ledger = new Ledger();
    let loadDone = false;
    const load = runLanes({
      ledger,
      jobs: options.jobs,
      lanes: options.lanes,
      submitUrl: (n) => at(n),
      watchUrl: (n) => at(n + 1 + Math.floor(Math.random() * 2)),
      deadline,
    }).finally(() => loadDone = true);
    let kills = 0;
    const restarts: number[] = [];
    while (!loadDone && performance.now() < deadline) {
      await Promise.race([sleep(options.killEveryMs), load]);
      if (loadDone) break;
      const victim = kills++ % instances.length;
      down.add(victim);
      const killedAt = performance.now();
      await (instances[victim] as ServiceChild).kill("SIGKILL");
      resumed += (instances[victim] as ServiceChild).linesWith(RESUMED);
      instances[victim] = await start(`${"ABC"[victim]}'`);
      down.delete(victim);
      restarts.push(performance.now() - killedAt);
      log(`  kill ${kills}: instance ${"ABC"[victim]} back in ${seconds(restarts.at(-1) ?? NaN)}`);
    }
    const streams = await load;
    await ledger.settle(() => at(0), deadline);
    const silences = streams.map((s) => s.longestSilenceMs);
    const takenOver = resumed + instances.reduce((n, i) => n + i.linesWith(RESUMED), 0);
    return rowFromLedger("4 instance loss (Redis, 3 instances)", ledger, {
      recovery: `jobs taken over within ${seconds(Math.max(0, ...silences))} (JOB_LOCK_MS ${
        seconds(options.jobLockMs)
      })`,
      checks: [
        {
          what: "instances were killed under load, and their jobs taken over",
          ok: kills > 0 && takenOver > 0,
          detail: `${kills} kills; ${takenOver} jobs resumed on another instance`,
        },
      ],
      notes: [
        `restart of a killed instance: median ${seconds(median(restarts))}; ` +
        `longest silence on a stream: median ${seconds(median(silences))}`,
      ],
    });
  } finally {
    await Promise.all(instances.map((i) => i.kill("SIGKILL")));
    await redis.destroy();
  }
}
