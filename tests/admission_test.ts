/**
 * Admission under bursts: submits sent in one tick, to one instance or several, get exactly as
 * many `202`s as there are places (running slots plus MAX_QUEUED_JOBS), on every store.
 */

import assert from "node:assert/strict";
import { hasRedisServer, Instance, RedisServer, stopAll } from "../testing/redis_cluster.ts";
import { startTestServer, waitFor } from "./_server.ts";
import { makeTestDir } from "./test_dir.ts";

const haveRedis = await hasRedisServer();
if (!haveRedis) {
  console.warn("\n!!! SKIPPING the Redis admission tests: redis-server is not installed\n");
}

/** Jobs that outlast the test: nothing finishes during a burst and frees a place. */
const SLOW = ["--offline-delay-ms", "600000"];

interface Tally {
  accepted: string[];
  refused: number;
}

/**
 * Sends `count` submits in the same tick, spread over `bases` in turn, and checks every refusal
 * is a `429` `queue_full` with `Retry-After`.
 */
async function burst(bases: readonly string[], count: number): Promise<Tally> {
  const responses = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      fetch(`${bases[i % bases.length]}/api/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ topic: `burst ${i}` }),
      })),
  );
  const tally: Tally = { accepted: [], refused: 0 };
  for (const response of responses) {
    const body = await response.json();
    if (response.status === 202) {
      tally.accepted.push(body.id);
      continue;
    }
    assert.equal(response.status, 429, JSON.stringify(body));
    assert.equal(body.error.code, "queue_full");
    assert.match(response.headers.get("retry-after") ?? "", /^\d+$/);
    tally.refused++;
  }
  return tally;
}

for (const store of ["memory", "sqlite"] as const) {
  Deno.test(`admission (${store}): a burst in one tick gets exactly the free places`, async (t) => {
    // Each server its own data folder: a durable store would hand the next one its jobs.
    const storeFlags = (dir: string) => ["--store", store, "--data-dir", dir];

    await t.step("1 running + 2 waiting: 3 of 8 accepted, 5 answered 429", async () => {
      await using dir = await makeTestDir(`admission-${store}`);
      const server = await startTestServer([
        ...SLOW,
        ...storeFlags(dir.path),
        "--max-concurrent-jobs",
        "1",
        "--max-queued-jobs",
        "2",
      ]);
      try {
        const { accepted, refused } = await burst([server.url], 8);
        assert.equal(accepted.length, 3);
        assert.equal(refused, 5);
        const stats = server.manager.stats();
        assert.deepEqual([stats.running, stats.queued], [1, 2]);
        assert.equal((await burst([server.url], 1)).refused, 1, "still full afterwards");
      } finally {
        await server.shutdown();
      }
    });

    await t.step("MAX_QUEUED_JOBS=0 is no waiting line: 2 slots, 2 of 6 accepted", async () => {
      await using dir = await makeTestDir(`admission-${store}`);
      const server = await startTestServer([
        ...SLOW,
        ...storeFlags(dir.path),
        "--max-concurrent-jobs",
        "2",
        "--max-queued-jobs",
        "0",
      ]);
      try {
        const { accepted, refused } = await burst([server.url], 6);
        assert.equal(accepted.length, 2);
        assert.equal(refused, 4);
        const stats = server.manager.stats();
        assert.deepEqual([stats.running, stats.queued], [2, 0]);
      } finally {
        await server.shutdown();
      }
    });
  });
}

/** The shared line's gauges of one instance's `/metrics`. */
async function sharedLine(instance: Instance): Promise<{ waiting: number; running: number }> {
  const text = await (await fetch(`${instance.url}/metrics`)).text();
  const gauge = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, "m").exec(text)?.[1]);
  return {
    waiting: gauge("quillflow_shared_jobs_waiting"),
    running: gauge("quillflow_shared_jobs_running"),
  };
}

/** Starts Redis and one instance per entry of `flags`, runs `body`, stops them all. */
async function withRedis(
  flags: readonly string[][],
  body: (instances: Instance[]) => Promise<void>,
): Promise<void> {
  const redis = await RedisServer.start();
  const instances: Instance[] = [];
  try {
    for (const [i, extra] of flags.entries()) {
      instances.push(
        await Instance.start(`R${i}`, [
          "--store",
          "redis",
          "--redis-url",
          redis.url,
          "--log-level",
          "warn",
          ...SLOW,
          ...extra,
        ]),
      );
    }
    await body(instances);
  } finally {
    await stopAll(instances, redis);
  }
}

Deno.test({
  name: "admission (redis): a burst in one tick gets exactly the free places, across instances",
  ignore: !haveRedis,
  async fn(t) {
    await t.step("one instance, 1 running + 2 waiting: 3 of 8 accepted", async () => {
      await withRedis([["--max-concurrent-jobs", "1", "--max-queued-jobs", "2"]], async ([a]) => {
        const { accepted, refused } = await burst([(a as Instance).url], 8);
        assert.equal(accepted.length, 3);
        assert.equal(refused, 5);
        await waitFor(
          async () => (await sharedLine(a as Instance)).running === 1,
          15_000,
          "the first job to run",
        );
        assert.deepEqual(await sharedLine(a as Instance), { waiting: 2, running: 1 });
      });
    });

    await t.step("places come back when jobs leave: nothing leaks", async () => {
      await withRedis([["--max-concurrent-jobs", "1", "--max-queued-jobs", "1"]], async ([a]) => {
        const base = (a as Instance).url;
        const first = await burst([base], 3);
        assert.equal(first.accepted.length, 2);
        const status = async (id: string) =>
          (await (await fetch(`${base}/api/jobs/${id}`)).json()).status as string;
        const cancel = async (id: string) => {
          const response = await fetch(`${base}/api/jobs/${id}`, { method: "DELETE" });
          assert.equal(response.status, 202);
          await response.body?.cancel();
        };
        let statuses: string[] = [];
        await waitFor(
          async () =>
            (statuses = await Promise.all(first.accepted.map(status))).includes("running"),
          15_000,
          "one job to run",
        );
        assert.deepEqual([...statuses].sort(), ["queued", "running"]);
        const waiting = first.accepted[statuses.indexOf("queued")] as string;
        const running = first.accepted[statuses.indexOf("running")] as string;
        // A waiting job cancelled gives its place back at once.
        await cancel(waiting);
        const second = await burst([base], 2);
        assert.equal(second.accepted.length, 1);
        // A running one, once its run has stopped; the job waiting behind it runs then.
        await cancel(running);
        await waitFor(
          async () => {
            const line = await sharedLine(a as Instance);
            return line.running === 1 && line.waiting === 0;
          },
          15_000,
          "the waiting job to run",
        );
        assert.equal((await burst([base], 2)).accepted.length, 1);
      });
    });

    await t.step(
      "two instances of 2 slots under a global cap of 3, 2 waiting: 5 of 12 accepted",
      async () => {
        const each = [
          "--max-concurrent-jobs",
          "2",
          "--global-concurrent-jobs",
          "3",
          "--max-queued-jobs",
          "2",
        ];
        await withRedis([each, each], async (instances) => {
          const { accepted, refused } = await burst(instances.map((i) => i.url), 12);
          assert.equal(accepted.length, 5);
          assert.equal(refused, 7);
          const [a, b] = instances as [Instance, Instance];
          await waitFor(
            async () => (await sharedLine(a)).running === 3,
            15_000,
            "three jobs to run",
          );
          assert.deepEqual(await sharedLine(b), { waiting: 2, running: 3 });
          assert.equal((await burst([a.url, b.url], 2)).refused, 2, "still full afterwards");
        });
      },
    );

    await t.step(
      "MAX_QUEUED_JOBS=0 with two instances of 1 slot: 2 of 6 accepted, both run",
      async () => {
        const each = ["--max-concurrent-jobs", "1", "--max-queued-jobs", "0"];
        await withRedis([each, each], async (instances) => {
          const { accepted } = await burst(instances.map((i) => i.url), 6);
          assert.equal(accepted.length, 2);
          await waitFor(
            async () => (await sharedLine(instances[0] as Instance)).running === 2,
            15_000,
            "both jobs to run",
          );
          assert.deepEqual(await sharedLine(instances[1] as Instance), {
            waiting: 0,
            running: 2,
          });
        });
      },
    );
  },
});
