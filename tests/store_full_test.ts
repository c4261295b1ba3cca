/**
 * A full disk under the SQLite store, over real HTTP: the file is capped with
 * `PRAGMA max_page_count` on the store's own connection while a job runs. Submits then get a
 * prompt `503`, `/healthz` says what is wrong, and once there is room again everything recovers
 * by itself: every accepted job ends with a whole log, in the file too.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { SqliteJobStore } from "../src/store/sqlite_job_store.ts";
import { collectEvents } from "../testing/sse_client.ts";
import { startTestServer, submit, waitFor } from "./_server.ts";
import { makeTestDir } from "./test_dir.ts";

const TERMINAL = ["complete", "error", "cancelled"];

function post(base: string, topic: string): Promise<Response> {
  return fetch(`${base}/api/jobs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ topic }),
    // A hang fails the test instead of stalling the suite.
    signal: AbortSignal.timeout(30_000),
  });
}

async function health(base: string): Promise<{ status: number; body: Record<string, string> }> {
  const response = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(30_000) });
  return { status: response.status, body: await response.json() };
}

Deno.test("a full disk: prompt 503s, /healthz degraded, then recovery with nothing accepted lost", async (t) => {
  await using dir = await makeTestDir("store-full");
  const path = `${dir.path}/quillflow.db`;
  let db: DatabaseSync | undefined;
  const store = SqliteJobStore.open(path, { openDatabase: (file) => db = new DatabaseSync(file) });
  const connection = db as DatabaseSync;
  const server = await startTestServer(
    ["--offline-delay-ms", "150", "--max-concurrent-jobs", "2", "--max-queued-jobs", "50"],
    { store },
  );
  const accepted: string[] = [];
  try {
    const running = await submit(server.url, "a job running when the disk fills");
    accepted.push(running.id);
    await waitFor(
      () => server.manager.stats().running === 1,
      10_000,
      "the first job to run",
    );

    await t.step(
      "while the disk is full, submits get a prompt 503 and /healthz says why",
      async () => {
        connection.exec("CREATE TABLE filler (x BLOB)");
        const pages = Number(connection.prepare("PRAGMA page_count").get()?.page_count);
        connection.prepare(`PRAGMA max_page_count = ${pages}`).get();
        assert.throws(() => {
          for (let i = 0; i < 10_000; i++) {
            connection.exec("INSERT INTO filler VALUES (randomblob(3000))");
          }
        }, /database or disk is full/);
        // Small writes still fit in the room left in pages already there, so submit (long topics
        // fill it sooner) until one is refused while the store still has a write it cannot make.
        let degraded: Record<string, string> | undefined;
        for (let i = 0; i < 200 && !degraded; i++) {
          const response = await post(server.url, `while full ${i} ${"x".repeat(450)}`);
          const body = await response.json();
          if (response.status === 202) {
            accepted.push(body.id);
            continue;
          }
          assert.equal(response.status, 503, JSON.stringify(body));
          assert.equal(body.error.code, "store_unavailable");
          assert.match(body.error.message, /cannot be written: database or disk is full/);
          assert.match(response.headers.get("retry-after") ?? "", /^\d+$/);
          const { status, body: report } = await health(server.url);
          if (status === 200) continue; // what was left to write fitted after all
          assert.equal(status, 503);
          degraded = report;
        }
        assert.ok(degraded, "a submit was refused while /healthz said the store is degraded");
        assert.equal(degraded.status, "degraded");
        assert.match(degraded.store ?? "", /cannot write: .*database or disk is full/);
        // Refused jobs are not counted anywhere.
        const stats = server.manager.stats();
        const counted = Object.values(stats.jobsByStatus).reduce((sum, n) => sum + n, 0);
        assert.equal(counted, accepted.length);
      },
    );

    await t.step("the job that was running goes on, its events kept for later", async () => {
      await waitFor(
        async () => (await server.manager.get(running.id))?.status === "completed",
        30_000,
        "the running job to end",
      );
    });

    await t.step("with room again it recovers by itself and takes jobs", async () => {
      connection.prepare("PRAGMA max_page_count = 1073741823").get();
      await waitFor(async () => (await health(server.url)).status === 200, 20_000, "health");
      accepted.push((await submit(server.url, "after the disk was freed")).id);
    });

    await t.step("every accepted job ends with a whole log, one terminal event last", async () => {
      for (const id of accepted) {
        const events = await collectEvents(`${server.url}/api/jobs/${id}/events`, {
          signal: AbortSignal.timeout(60_000),
        });
        assert.deepEqual(events.map((e) => Number(e.id)), events.map((_, i) => i + 1));
        assert.equal(events.filter((e) => TERMINAL.includes(e.event)).length, 1);
        assert.equal(events.at(-1)?.event, "complete", `job ${id}`);
      }
    });
  } finally {
    await server.shutdown();
  }

  await t.step("and the file has them all", async () => {
    const reopened = SqliteJobStore.open(path);
    try {
      for (const id of accepted) {
        const record = await reopened.get(id);
        assert.equal(record?.status, "completed", `job ${id}`);
        const log = await reopened.events(id, 0, 100_000);
        assert.deepEqual(log.map((e) => e.id), log.map((_, i) => i + 1));
        assert.equal(log.at(-1)?.type, "complete");
        assert.equal(log.length, record?.lastEventId);
      }
    } finally {
      await reopened.close();
    }
  });
});
