/**
 * Scenario 2, a full disk: the SQLite store's data directory on a small tmpfs, load, then a
 * ballast file fills what is left until writes fail; a few seconds later the ballast goes. While
 * full, submits must get `503` JSON with `Retry-After` in bounded time and `/healthz` must say
 * what is degraded; once space is back the service must recover by itself, and every job
 * accepted before, during or after must finish.
 *
 * Mounting needs root (`mount -t tmpfs`); {@linkcode canMountTmpfs} says whether it works here.
 * Where it does not (and in the test suite), {@linkcode startWithPageCap} fills the SQLite file
 * instead, with `PRAGMA max_page_count` on the store's own connection, the service in-process.
 *
 * @module
 */

import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { loadConfig } from "../../src/config.ts";
import { silentLogger } from "../../src/core/logger.ts";
import { startServer } from "../../src/server.ts";
import { DATABASE_FILE, SqliteJobStore } from "../../src/store/sqlite_job_store.ts";
import { HealthProbe } from "./health_probe.ts";
import { Ledger } from "./ledger.ts";
import { probeSubmits, runLanes } from "./load_lanes.ts";
import { rowFromLedger, type ScenarioRow } from "./scenario_row.ts";
import { ServiceChild } from "./service_child.ts";
import { seconds, sleep, waitUntil } from "./timing.ts";

/**
 * A service whose disk can be filled and freed: on a tmpfs ({@linkcode startOnTmpfs}), or in
 * the suite a SQLite file capped with `PRAGMA max_page_count`.
 */
export interface FillableService {
  /** Its base URL. */
  url: string;
  /** Fills what room is left; resolves with a word on how. */
  fill(): Promise<string>;
  /** Gives the room back. */
  free(): Promise<void>;
  /** How many store writes it has reported failing so far, if it can tell. */
  failedWrites?(): number;
  /** Stops it and cleans up. */
  close(): Promise<void>;
}

/** Options for {@linkcode diskFull}. */
export interface DiskFullOptions {
  /** Jobs accepted before the disk is filled. */
  jobsBefore: number;
  /** Jobs accepted after space is back, before the load stops. */
  jobsAfter: number;
  /** Clients at once. */
  lanes: number;
  /** The disk stays full this long after the service first shows it, in ms. */
  holdMs: number;
  /** Everything must be over by this many ms. Default 180 000. */
  budgetMs?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

async function run(command: string, args: string[]): Promise<{ ok: boolean; text: string }> {
  try {
    const { success, stdout, stderr } = await new Deno.Command(command, {
      args,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(stderr) + new TextDecoder().decode(stdout);
    return { ok: success, text };
  } catch (error) {
    return { ok: false, text: String(error) };
  }
}

/** Whether a tmpfs can be mounted here (root, and a kernel that allows it); why not if not. */
export async function canMountTmpfs(probeDir: string): Promise<string | null> {
  await Deno.mkdir(probeDir, { recursive: true });
  const mounted = await run("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probeDir]);
  if (!mounted.ok) return mounted.text.trim() || "mount failed";
  await run("umount", [probeDir]);
  await Deno.remove(probeDir).catch(() => {});
  return null;
}

/** Fills the file system holding `path` with one file until it refuses more. */
async function fill(path: string): Promise<number> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  let written = 0;
  try {
    for (const size of [1 << 20, 1 << 16, 1 << 12]) {
      const chunk = new Uint8Array(size);
      try {
        for (;;) written += await file.write(chunk);
      } catch {
        // ENOSPC: try smaller pieces, then stop
      }
    }
  } finally {
    file.close();
  }
  return written;
}

/** The log line the SQLite store writes for each failed write. */
const WRITE_FAILED = "job store write failed";

/**
 * Starts the service as a child with its data directory on a new tmpfs of `sizeMiB` at
 * `mountPoint` (needs root); `args` are its other flags.
 */
export async function startOnTmpfs(
  mountPoint: string,
  sizeMiB: number,
  args: readonly string[],
): Promise<FillableService> {
  await Deno.mkdir(mountPoint, { recursive: true });
  const mounted = await run("mount", [
    "-t",
    "tmpfs",
    "-o",
    `size=${sizeMiB}m`,
    "tmpfs",
    mountPoint,
  ]);
  if (!mounted.ok) throw new Error(`Cannot mount a tmpfs: ${mounted.text}`);
  const ballast = join(mountPoint, "ballast");
  try {
    const service = await ServiceChild.start({
      name: "disk-full service",
      args: ["--store", "sqlite", "--data-dir", join(mountPoint, "data"), ...args],
      countLines: [WRITE_FAILED],
    });
    return {
      url: service.url,
      fill: async () => `${((await fill(ballast)) / 1024).toFixed(0)} KiB of ballast`,
      free: () => Deno.remove(ballast),
      failedWrites: () => service.linesWith(WRITE_FAILED),
      close: async () => {
        await service.kill("SIGKILL");
        await run("umount", [mountPoint]);
      },
    };
  } catch (error) {
    await run("umount", [mountPoint]);
    throw error;
  }
}

/**
 * Starts the service in this process on a SQLite store in `dataDir` (`args` are its other flags),
 * whose file "fills" when its page count is capped at what it holds and a filler table takes the
 * room left in its pages; freeing lifts the cap and drops the filler.
 */
export async function startWithPageCap(
  dataDir: string,
  args: readonly string[],
): Promise<FillableService> {
  await Deno.mkdir(dataDir, { recursive: true });
  let db: DatabaseSync | undefined;
  let failed = 0;
  const store = SqliteJobStore.open(join(dataDir, DATABASE_FILE), {
    openDatabase: (path) => db = new DatabaseSync(path),
    onError: () => failed++,
  });
  const connection = db as DatabaseSync;
  const { config } = loadConfig(() => undefined, ["--port", "0", "--store", "sqlite", ...args]);
  const server = await startServer(config, { store, logger: silentLogger });
  return {
    url: server.url,
    fill: () => {
      connection.exec("CREATE TABLE IF NOT EXISTS chaos_filler (x BLOB)");
      const pages = Number(connection.prepare("PRAGMA page_count").get()?.page_count);
      connection.prepare(`PRAGMA max_page_count = ${pages}`).get();
      let rows = 0;
      try {
        for (; rows < 100_000; rows++) {
          connection.exec("INSERT INTO chaos_filler VALUES (randomblob(1000))");
        }
      } catch {
        // full: what the service writes next may still fit in a page's free bytes, no more
      }
      return Promise.resolve(`file capped at ${pages} pages, ${rows} filler rows`);
    },
    free: () => {
      connection.prepare("PRAGMA max_page_count = 1073741823").get();
      connection.exec("DROP TABLE IF EXISTS chaos_filler");
      return Promise.resolve();
    },
    failedWrites: () => failed,
    close: () => server.shutdown(0),
  };
}

/** Runs scenario 2 against `target`; resolves with its row. */
export async function diskFull(
  name: string,
  target: FillableService,
  options: DiskFullOptions,
): Promise<ScenarioRow> {
  const log = options.log ?? (() => {});
  const deadline = performance.now() + (options.budgetMs ?? 180_000);
  const url = target.url;
  const ledger = new Ledger();
  const probe = new HealthProbe(ledger, () => url, 250);
  const stopLoad = new AbortController();
  const load = runLanes({
    ledger,
    jobs: Infinity,
    stop: stopLoad.signal,
    lanes: options.lanes,
    submitUrl: () => url,
    watchUrl: () => url,
    deadline,
  });
  await waitUntil(deadline, () => ledger.accepted.length >= options.jobsBefore, 20);
  const filledAt = performance.now();
  log(`  disk filled (${await target.fill()})`);
  // New clients keep coming while the disk is full; the lanes may all be waiting on jobs.
  const stopProbes = new AbortController();
  const probes = probeSubmits(ledger, () => url, 250, stopProbes.signal, deadline);
  // Full until the service shows it (a refusal, a hung request, /healthz degraded), then a
  // while longer; a service that never shows it is held full for 20 s and judged on that.
  const showsIt = () =>
    ledger.refusalLog.some((r) => r.at >= filledAt) || ledger.hung > 0 ||
    probe.samples.some((s) => s.at >= filledAt && s.state !== "ok");
  await waitUntil(filledAt + 20_000, showsIt, 50);
  const shownAt = performance.now();
  const shown = showsIt();
  await sleep(options.holdMs);
  await target.free();
  const freedAt = performance.now();
  stopProbes.abort();
  log(`  space freed after ${seconds(freedAt - filledAt)}`);
  await waitUntil(
    freedAt + 60_000,
    () => ledger.acceptedAt.some((t) => t > freedAt) && probe.firstOk(freedAt) !== undefined,
    50,
  );
  const acceptedAgain = ledger.acceptedAt.find((t) => t > freedAt);
  const healthyAgain = probe.firstOk(freedAt);
  await waitUntil(
    deadline - 30_000,
    () => ledger.acceptedAt.filter((t) => t > freedAt).length >= options.jobsAfter,
  );
  stopLoad.abort();
  await Promise.all([load, probes]);
  await ledger.settle(() => url, deadline);
  await probe.stop();

  const during = ledger.refusalLog.filter((r) => r.at >= filledAt && r.at <= freedAt);
  const refused503 = during.filter((r) => r.kind.startsWith("503 "));
  const fullStates = probe.states(filledAt, freedAt);
  const degraded = [...fullStates.keys()].filter((s) => s !== "ok" && s !== "down" && s !== "hung");
  const recoveredMs = Math.max(acceptedAgain ?? NaN, healthyAgain ?? NaN) - freedAt;
  const failedWrites = target.failedWrites?.();
  return rowFromLedger(name, ledger, {
    recovery: `${seconds(recoveredMs)} after space freed`,
    checks: [
      {
        what: "writes failed while the disk was full (the fault happened)",
        ok: shown,
        detail: shown
          ? `shown ${seconds(shownAt - filledAt)} after the disk filled`
          : "no sign in 20 s",
      },
      {
        what: "a full disk gives 503 JSON with Retry-After",
        ok: refused503.length > 0 && refused503.every((r) => r.wellFormed),
        detail: `${refused503.length} × 503 while full (${
          refused503.filter((r) => !r.wellFormed).length
        } malformed); ${ledger.hung} requests hung`,
      },
      {
        what: "/healthz answers and says what is degraded",
        ok: degraded.length > 0 && !fullStates.has("hung"),
        detail: [...fullStates].map(([s, n]) => `${n}× ${s}`).join(", ") || "no answers",
      },
      {
        what: "recovers by itself once space is back",
        ok: Number.isFinite(recoveredMs),
        detail: `first 202 after ${seconds((acceptedAgain ?? NaN) - freedAt)}, /healthz ok after ${
          seconds((healthyAgain ?? NaN) - freedAt)
        }`,
      },
    ],
    notes: [
      `disk full for ${seconds(freedAt - filledAt)}` +
      (failedWrites === undefined ? "" : `; the service logged ${failedWrites} failed writes`),
    ],
  });
}
