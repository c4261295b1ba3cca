/**
 * Scenario 3, Redis dies: two instances on one Redis under load; `kill -9` the Redis server
 * mid-load and start it again on the same files a few seconds later. While it is gone, submits
 * must get `503` JSON with `Retry-After` in bounded time and `/healthz` must say Redis is
 * unreachable; after, both instances must recover by themselves, and no job accepted with `202`
 * may be lost, with the AOF fsynced `always` or `everysec`.
 *
 * @module
 */

import { RedisServer } from "../../testing/redis_cluster.ts";
import { HealthProbe } from "./health_probe.ts";
import { Ledger } from "./ledger.ts";
import { probeSubmits, runLanes } from "./load_lanes.ts";
import { rowFromLedger, type ScenarioRow } from "./scenario_row.ts";
import { ServiceChild } from "./service_child.ts";
import { seconds, sleep, waitUntil } from "./timing.ts";

/** Options for {@linkcode redisDeath}. */
export interface RedisDeathOptions {
  /** Where Redis keeps its files (a folder is made inside). */
  workDir: string;
  /** The AOF fsync policy. */
  appendfsync: "always" | "everysec";
  /** Jobs to get accepted. */
  jobs: number;
  /** Clients at once. */
  lanes: number;
  /** Redis is killed once this many jobs are accepted. */
  killAfter: number;
  /** Redis stays dead this long, in ms. */
  downMs: number;
  /** The offline writer's time per call. */
  offlineDelayMs: number;
  /** Everything must be over by this many ms. Default 180 000. */
  budgetMs?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** Starts an instance of the service on Redis at `redisUrl`. */
export function startRedisInstance(
  name: string,
  redisUrl: string,
  extra: readonly string[],
  countLines: readonly string[] = [],
): Promise<ServiceChild> {
  return ServiceChild.start({
    name,
    countLines,
    args: [
      "--store",
      "redis",
      "--redis-url",
      redisUrl,
      "--max-queued-jobs",
      "100000",
      "--log-level",
      "error",
      ...extra,
    ],
  });
}

/** Runs scenario 3 with one fsync policy; resolves with its row. */
export async function redisDeath(options: RedisDeathOptions): Promise<ScenarioRow> {
  const log = options.log ?? (() => {});
  const deadline = performance.now() + (options.budgetMs ?? 180_000);
  const redis = await RedisServer.start(options.workDir, options.appendfsync);
  const instances: ServiceChild[] = [];
  try {
    for (const name of ["A", "B"]) {
      instances.push(
        await startRedisInstance(name, redis.url, [
          "--offline-delay-ms",
          String(options.offlineDelayMs),
        ]),
      );
    }
    const urls = instances.map((i) => i.url);
    const at = (n: number) => urls[n % urls.length] as string;
    const ledger = new Ledger();
    const probes = urls.map((url) => new HealthProbe(ledger, () => url, 250));
    const load = runLanes({
      ledger,
      jobs: options.jobs,
      lanes: options.lanes,
      submitUrl: (n) => at(n),
      watchUrl: (n) => at(n + 1),
      deadline,
    });
    await waitUntil(deadline, () => ledger.accepted.length >= options.killAfter, 20);
    await redis.stop("SIGKILL");
    const killedAt = performance.now();
    log(`  redis killed (appendfsync ${options.appendfsync}) after ${ledger.accepted.length} jobs`);
    const stopProbes = new AbortController();
    let turn = 0;
    const submits = probeSubmits(ledger, () => at(turn++), 250, stopProbes.signal, deadline);
    await sleep(options.downMs);
    stopProbes.abort();
    await redis.restart();
    const restartedAt = performance.now();
    await waitUntil(
      restartedAt + 60_000,
      () =>
        ledger.acceptedAt.some((t) => t > restartedAt) &&
        probes.every((p) => p.firstOk(restartedAt) !== undefined),
      50,
    );
    const acceptedAgain = ledger.acceptedAt.find((t) => t > restartedAt);
    const healthyAgain = Math.max(...probes.map((p) => p.firstOk(restartedAt) ?? NaN));
    await Promise.all([load, submits]);
    await ledger.settle(() => urls[0] as string, deadline);
    await Promise.all(probes.map((p) => p.stop()));

    const during = ledger.refusalLog.filter((r) => r.at >= killedAt && r.at <= restartedAt);
    const refused503 = during.filter((r) => r.kind.startsWith("503 "));
    const states = new Map<string, number>();
    for (const p of probes) {
      for (const [s, n] of p.states(killedAt, restartedAt)) states.set(s, (states.get(s) ?? 0) + n);
    }
    const degraded = [...states.keys()].filter((s) => /redis/.test(s));
    const recoveredMs = Math.max(acceptedAgain ?? NaN, healthyAgain) - restartedAt;
    return rowFromLedger(`3 Redis dies (${options.appendfsync})`, ledger, {
      recovery: `${seconds(recoveredMs)} after Redis restarted`,
      checks: [
        {
          what: "a dead Redis gives 503 JSON with Retry-After",
          ok: refused503.length > 0 && refused503.every((r) => r.wellFormed),
          detail: `${refused503.length} × 503 while down (${
            refused503.filter((r) => !r.wellFormed).length
          } malformed); ${during.length - refused503.length} other refusals`,
        },
        {
          what: "/healthz answers and says Redis is unreachable",
          ok: degraded.length > 0 && !states.has("hung"),
          detail: [...states].map(([s, n]) => `${n}× ${s}`).join(", ") || "no answers",
        },
        {
          what: "both instances recover by themselves",
          ok: Number.isFinite(recoveredMs),
          detail: `first 202 after ${seconds((acceptedAgain ?? NaN) - restartedAt)}, both ` +
            `/healthz ok after ${seconds(healthyAgain - restartedAt)}`,
        },
      ],
      notes: [`Redis down for ${seconds(restartedAt - killedAt)}`],
    });
  } finally {
    await Promise.all(instances.map((i) => i.kill("SIGKILL")));
    await redis.destroy();
  }
}
