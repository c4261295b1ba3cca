/**
 * Scenario 1, a crash loop on the durable store: load on the SQLite store while the service is
 * killed with SIGKILL every few seconds and started again at once on the same data directory and
 * port; watchers reconnect with `Last-Event-ID`.
 *
 * With `churn`, scenario 6 runs alongside: event-stream clients that connect and drop at random,
 * half of them while the kills go on and half on the last process, under the same load. Then
 * every stream must have been let go, and the last process's memory must be back within 10 % of
 * where it was before its last quarter of the clients. Both memory figures are taken after a full
 * garbage collection (over the inspector), once the process is warm: a cold process's memory, or
 * one taken whenever V8 last chose to collect, says nothing about what the clients left behind.
 *
 * @module
 */

import { readMemory } from "../process_stats.ts";
import { type ChurnOptions, runChurn } from "./client_churn.ts";
import { HealthProbe } from "./health_probe.ts";
import { collectGarbage } from "./inspector.ts";
import { Ledger } from "./ledger.ts";
import { runLanes } from "./load_lanes.ts";
import { type Check, rowFromLedger, type ScenarioRow } from "./scenario_row.ts";
import { ServiceChild } from "./service_child.ts";
import { median, seconds, sleep, waitUntil } from "./timing.ts";

/** Options for {@linkcode crashLoop}. */
export interface CrashLoopOptions {
  /** The data directory, kept across restarts. */
  dataDir: string;
  /** Jobs to get accepted at least: the load goes on until the last kill, and past it to this. */
  jobs: number;
  /** Clients submitting and watching at once. */
  lanes: number;
  /** SIGKILLs. */
  kills: number;
  /** A kill comes a random time in this range after the service is back, in ms. */
  killEveryMs: readonly [number, number];
  /** The offline writer's time per call. */
  offlineDelayMs: number;
  /** `MAX_CONCURRENT_JOBS` of the service. */
  maxConcurrentJobs: number;
  /** Scenario 6 alongside, if given. */
  churn?: ChurnOptions;
  /** Everything must be over by this many ms. Default 240 000. */
  budgetMs?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

async function openStreams(url: string): Promise<number | undefined> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const match = /^quillflow_sse_streams_open (\d+)$/m.exec(text);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Resident and live-heap memory of `service` after a full collection, in MiB. */
async function memoryAfterGc(
  service: ServiceChild,
  inspectPort: number,
): Promise<{ rss: number; heap: number }> {
  const { usedBytes } = await collectGarbage(inspectPort);
  const { rssKiB } = await readMemory(service.pid);
  return { rss: rssKiB / 1024, heap: usedBytes / 1_048_576 };
}

/** Runs scenario 1 (and 6 with `churn`); resolves with their rows. */
export async function crashLoop(options: CrashLoopOptions): Promise<ScenarioRow[]> {
  const log = options.log ?? (() => {});
  const deadline = performance.now() + (options.budgetMs ?? 240_000);
  const args = [
    "--store",
    "sqlite",
    "--data-dir",
    options.dataDir,
    "--offline-delay-ms",
    String(options.offlineDelayMs),
    "--max-concurrent-jobs",
    String(options.maxConcurrentJobs),
    "--max-queued-jobs",
    "100000",
    "--log-level",
    "error",
  ];
  let port = 0;
  let inspectPort = 0;
  const start = async () => {
    // The same ports every time, as a supervisor restarts a service where clients expect it.
    const started = await ServiceChild.start({
      name: "crash-loop service",
      port,
      args,
      ...(options.churn ? { inspectPort } : {}),
    });
    port = started.port;
    inspectPort = started.inspectPort ?? 0;
    return started;
  };
  let service = await start();
  const url = service.url;
  const ledger = new Ledger();
  const churnLedger = new Ledger();
  const probe = new HealthProbe(ledger, () => url, 500);

  let loadDone = false;
  const stopLoad = new AbortController();
  const load = runLanes({
    ledger,
    jobs: Infinity,
    stop: stopLoad.signal,
    lanes: options.lanes,
    submitUrl: () => url,
    watchUrl: () => url,
    deadline,
  }).finally(() => loadDone = true);
  const killsDone = new AbortController();
  const churn = options.churn;
  const firstHalf = churn
    ? runChurn(churnLedger, () => url, () => ledger.accepted, {
      ...churn,
      clients: Math.ceil(churn.clients / 2),
      stop: killsDone.signal,
    })
    : Promise.resolve(0);

  const recoveries: number[] = [];
  let killsUnderLoad = 0;
  for (let kill = 1; kill <= options.kills && performance.now() < deadline; kill++) {
    const [min, max] = options.killEveryMs;
    await sleep(min + Math.random() * (max - min));
    if (!loadDone) killsUnderLoad++;
    const killedAt = performance.now();
    await service.kill("SIGKILL");
    service = await start();
    await waitUntil(deadline, async () => {
      const response = await fetch(`${url}/healthz`).catch(() => undefined);
      await response?.body?.cancel();
      return response?.ok === true;
    });
    recoveries.push(performance.now() - killedAt);
    log(`  kill ${kill}: back in ${seconds(recoveries.at(-1) as number)}`);
  }
  killsDone.abort();

  let churned = await firstHalf;
  let before: { rss: number; heap: number } | undefined;
  let cold: { rss: number; heap: number } | undefined;
  let warmClients = 0;
  if (churn) {
    // The last process: warmed by the load and a quarter of the clients (a cold process grows
    // for a while, whatever it serves), measured, then the rest of the clients come.
    cold = await memoryAfterGc(service, inspectPort);
    churned += await runChurn(churnLedger, () => url, () => ledger.accepted, {
      ...churn,
      clients: Math.floor((churn.clients - churned) / 2),
    });
    before = await memoryAfterGc(service, inspectPort);
    warmClients = churned;
    churned += await runChurn(churnLedger, () => url, () => ledger.accepted, {
      ...churn,
      clients: churn.clients - churned,
    });
  }
  await waitUntil(deadline, () => ledger.accepted.length >= options.jobs);
  stopLoad.abort();
  const streams = await load;
  await ledger.settle(() => url, deadline);
  await probe.stop();

  const rows: ScenarioRow[] = [];
  const healthStates = [...probe.states()].map(([s, n]) => `${n}× ${s}`).join(", ");
  rows.push(rowFromLedger("1 crash loop (SQLite)", ledger, {
    recovery: `max ${seconds(Math.max(...recoveries))}, median ${
      seconds(median(recoveries))
    } (${recoveries.length} kills)`,
    checks: [
      {
        what: "recovers by itself after every kill",
        ok: recoveries.length === options.kills,
        detail: `${recoveries.length} of ${options.kills} restarts answered /healthz`,
      },
      {
        what: "every kill hit the service under load",
        ok: killsUnderLoad === options.kills,
        detail: `${killsUnderLoad} of ${recoveries.length} while jobs were being submitted`,
      },
    ],
    notes: [
      `${streams.filter((s) => s.resumed).length} jobs were taken up again after a kill`,
      `/healthz: ${healthStates}`,
    ],
  }));

  if (churn && before && cold) {
    const leftAt = performance.now();
    let open: number | undefined;
    const closed = await waitUntil(performance.now() + 30_000, async () => {
      open = await openStreams(url);
      return open === 0;
    });
    const drainMs = performance.now() - leftAt;
    const after = await memoryAfterGc(service, inspectPort);
    const growth = after.rss / before.rss - 1;
    const mib = (m: { rss: number; heap: number }) =>
      `${m.rss.toFixed(1)} MiB (heap ${m.heap.toFixed(1)})`;
    const checks: Check[] = [
      {
        what: "open streams return to 0",
        ok: closed,
        detail: `${open ?? "?"} open ${seconds(drainMs)} after the last client left`,
      },
      {
        what: `RSS within 10% of where it was before the last ${
          churn.clients - warmClients
        } clients (last process)`,
        ok: Math.abs(growth) <= 0.1,
        detail: `${mib(before)} → ${mib(after)}: ${growth >= 0 ? "+" : ""}${
          (growth * 100).toFixed(1)
        }% (after a full GC each)`,
      },
      {
        what: "every client connected",
        ok: churned === churn.clients,
        detail: `${churned} of ${churn.clients}`,
      },
    ];
    rows.push(rowFromLedger("6 client churn (during 1)", churnLedger, {
      recovery: `streams 0 after ${seconds(drainMs)}; RSS ${growth >= 0 ? "+" : ""}${
        (growth * 100).toFixed(1)
      }%`,
      checks,
      notes: [`the last process when it started (cold): ${mib(cold)}`],
    }));
  }
  await service.kill("SIGKILL");
  return rows;
}
