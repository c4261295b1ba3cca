/**
 * Short versions of the fault campaign (`deno task chaos`, docs/reliability.md): a crash loop on
 * the SQLite store, a full disk, and a bad LLM, each under load and each ending with a check of
 * every accepted job and every followed stream. A row that does not hold fails with its checks.
 */

import assert from "node:assert/strict";
import { badLlm } from "../bench/chaos/bad_llm.ts";
import { crashLoop } from "../bench/chaos/crash_loop.ts";
import { diskFull, startWithPageCap } from "../bench/chaos/disk_full.ts";
import { formatRows, holds, type ScenarioRow } from "../bench/chaos/scenario_row.ts";
import { makeTestDir } from "./test_dir.ts";

function assertHolds(row: ScenarioRow): void {
  assert.ok(holds(row), `\n${formatRows([row])}`);
}

Deno.test("chaos 1: a crash loop on the SQLite store loses nothing and breaks no stream", async () => {
  await using dir = await makeTestDir("chaos-crash-loop");
  const [row] = await crashLoop({
    dataDir: dir.path,
    jobs: 40,
    lanes: 8,
    kills: 3,
    killEveryMs: [500, 1_500],
    offlineDelayMs: 20,
    maxConcurrentJobs: 2,
  });
  assertHolds(row as ScenarioRow);
  assert.ok((row as ScenarioRow).accepted >= 40);
});

Deno.test("chaos 2: a full disk gives prompt 503s and a degraded /healthz, then recovers by itself", async () => {
  await using dir = await makeTestDir("chaos-disk-full");
  const target = await startWithPageCap(dir.path, [
    "--offline-delay-ms",
    "20",
    "--max-queued-jobs",
    "1000",
    "--shutdown-grace-ms",
    "0",
  ]);
  try {
    const row = await diskFull("2 disk full (page cap)", target, {
      jobsBefore: 10,
      jobsAfter: 10,
      lanes: 5,
      holdMs: 1_000,
    });
    assertHolds(row);
  } finally {
    await target.close();
  }
});

Deno.test("chaos 5: with a bad LLM every job completes or fails saying why, none stuck", async () => {
  await using dir = await makeTestDir("chaos-bad-llm");
  const row = await badLlm({
    dataDir: dir.path,
    jobs: 20,
    lanes: 10,
    rates: { error: 0.2, cut: 0.1, hang: 0.05 },
    maxAttempts: 5,
    timeoutMs: 1_000,
    maxConcurrentJobs: 10,
    answerMs: 20,
  });
  assertHolds(row);
  assert.equal(row.accepted, 20);
});
