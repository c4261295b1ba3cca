/**
 * Why the durable store's event table looks the way it does: inserts the floor's 15 events for
 * each of N jobs, 100 jobs in flight, straight into `node:sqlite` (WAL, `synchronous=NORMAL`, one
 * transaction per round of events), and prints CPU time per job for random (v4) or time-ordered
 * (v7) job ids × one row per event or one row per job per commit.
 *
 *     deno run --allow-read --allow-write bench/sqlite_layout.ts [--jobs 4000] [--per-commit 5]
 *
 * `--per-commit` is how many of a job's events one commit holds (at zero LLM delay a whole job
 * usually lands in one; with a real LLM, about one).
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import process from "node:process";
import { parseArgs } from "node:util";
import { newJobId } from "../src/core/job_id.ts";
import { floorEvents } from "./floor_server.ts";

const IN_FLIGHT = 100;

/** CPU ms per job for one layout. */
function measure(
  jobs: number,
  perCommit: number,
  ids: "random" | "ordered",
  rows: "event" | "batch",
): number {
  const dir = Deno.makeTempDirSync({ prefix: "quillflow-bench-" });
  const db = new DatabaseSync(`${dir}/layout.db`);
  try {
    db.exec(
      "PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL",
    );
    db.exec(`
      CREATE TABLE events (job_id TEXT NOT NULL, id INTEGER NOT NULL, type TEXT NOT NULL,
        data TEXT NOT NULL, PRIMARY KEY (job_id, id));
      CREATE TABLE event_batches (job_id TEXT NOT NULL, first_id INTEGER NOT NULL,
        last_id INTEGER NOT NULL, events TEXT NOT NULL, PRIMARY KEY (job_id, first_id));
    `);
    const perEvent = db.prepare("INSERT INTO events VALUES (?, ?, ?, ?)");
    const perBatch = db.prepare("INSERT INTO event_batches VALUES (?, ?, ?, ?)");
    const events = floorEvents("benchmark topic");
    const jobIds = Array.from(
      { length: jobs },
      (_, i) => ids === "random" ? crypto.randomUUID() : newJobId(Date.now() + i),
    );
    const before = process.cpuUsage();
    for (let base = 0; base < jobs; base += IN_FLIGHT) {
      for (let from = 0; from < events.length; from += perCommit) {
        db.exec("BEGIN");
        for (const id of jobIds.slice(base, base + IN_FLIGHT)) {
          const slice = events.slice(from, from + perCommit);
          if (rows === "event") {
            for (const e of slice) perEvent.run(id, e.id, e.type, JSON.stringify(e.data));
          } else {
            const first = slice[0]?.id ?? 0;
            perBatch.run(id, first, slice.at(-1)?.id ?? first, JSON.stringify(slice));
          }
        }
        db.exec("COMMIT");
      }
    }
    const used = process.cpuUsage(before);
    return (used.user + used.system) / 1_000 / jobs;
  } finally {
    db.close();
    Deno.removeSync(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      jobs: { type: "string", default: "4000" },
      "per-commit": { type: "string", default: "5" },
    },
  });
  const jobs = Number(values.jobs);
  const perCommit = Number(values["per-commit"]);
  for (const ids of ["random", "ordered"] as const) {
    for (const rows of ["event", "batch"] as const) {
      const ms = measure(jobs, perCommit, ids, rows);
      console.log(
        `${ids.padEnd(7)} ids, a row per ${rows.padEnd(5)}: ${ms.toFixed(3)} ms CPU per job`,
      );
    }
  }
}
