/**
 * Idempotent submits over real HTTP: `POST /api/jobs` with an `Idempotency-Key` (IETF httpapi
 * draft) creates one job however often, and however many instances, it is sent to.
 */

import assert from "node:assert/strict";
import { IdempotentSubmit } from "../src/idempotency/idempotent_submit.ts";
import { SqliteIdempotencyStore } from "../src/idempotency/sqlite_idempotency_store.ts";
import type { JobRecord } from "../src/core/job.ts";
import type { RunningServer } from "../src/server.ts";
import { SqliteJobStore } from "../src/store/sqlite_job_store.ts";
import { GatedStore } from "../testing/gated_store.ts";
import { jobRecord } from "../testing/job_records.ts";
import { OpenApiValidator } from "../testing/openapi_validator.ts";
import { hasRedisServer, Instance, RedisServer, stopAll } from "../testing/redis_cluster.ts";
import { startTestServer, waitFor } from "./_server.ts";
import { makeTestDir } from "./test_dir.ts";

interface Answer {
  status: number;
  headers: Headers;
  body: { id?: string; status?: string; error?: { code: string; message: string } };
}

/** Each service's document, fetched once: every answer below must be described by it. */
const validators = new Map<string, Promise<OpenApiValidator>>();

async function post(
  base: string,
  key: string | undefined,
  body: Record<string, unknown> = { topic: "green tea" },
): Promise<Answer> {
  const response = await fetch(`${base}/api/jobs`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(key === undefined ? {} : { "idempotency-key": key }),
    },
    body: JSON.stringify(body),
    // A request that should be answered at once fails the test, rather than hangs it.
    signal: AbortSignal.timeout(60_000),
  });
  let validator = validators.get(base);
  if (!validator) validators.set(base, validator = OpenApiValidator.fetch(base));
  await (await validator).check("POST", response.url, response.clone());
  return { status: response.status, headers: response.headers, body: await response.json() };
}

async function jobIds(base: string): Promise<string[]> {
  const listed = await (await fetch(`${base}/api/jobs?limit=100`)).json();
  return listed.jobs.map((job: { id: string }) => job.id);
}

/** Every answer of a burst is the job (202) or "still being handled" (409); one job in all. */
function assertOneJob(answers: Answer[]): string {
  const statuses = answers.map((a) => a.status);
  assert.ok(statuses.every((s) => s === 202 || s === 409), `statuses: ${statuses}`);
  const ids = new Set(answers.filter((a) => a.status === 202).map((a) => a.body.id));
  assert.equal(ids.size, 1, `202s name one job: ${[...ids]}`);
  for (const answer of answers.filter((a) => a.status === 409)) {
    assert.equal(answer.body.error?.code, "idempotency_key_in_use");
    assert.match(answer.headers.get("retry-after") ?? "", /^\d+$/);
  }
  return [...ids][0] as string;
}

Deno.test("POST /api/jobs with an Idempotency-Key answers the first answer again", async (t) => {
  const server = await startTestServer(["--offline-delay-ms", "60000"]);
  try {
    await t.step(
      "same key and body: the same job, Idempotent-Replayed, no second job",
      async () => {
        const first = await post(server.url, '"order-1"');
        assert.equal(first.status, 202);
        assert.equal(first.headers.get("idempotent-replayed"), null);
        const again = await post(server.url, '"order-1"');
        assert.equal(again.status, 202);
        assert.equal(again.headers.get("idempotent-replayed"), "true");
        assert.equal(again.headers.get("location"), `/api/jobs/${first.body.id}`);
        assert.deepEqual(again.body, first.body, "the first answer, as it was");
        assert.deepEqual(await jobIds(server.url), [first.body.id]);
      },
    );

    await t.step("the bare form names the same key as the quoted one", async () => {
      const bare = await post(server.url, "order-1");
      assert.equal(bare.headers.get("idempotent-replayed"), "true");
      assert.equal((await jobIds(server.url)).length, 1);
    });

    await t.step("the same key with another body: 422 idempotency_key_reused", async () => {
      const other = await post(server.url, '"order-1"', { topic: "black tea" });
      assert.equal(other.status, 422);
      assert.equal(other.body.error?.code, "idempotency_key_reused");
      assert.equal((await jobIds(server.url)).length, 1);
    });

    await t.step(
      "a topic written differently but the same after trimming is the same body",
      async () => {
        const spaced = await post(server.url, '"order-1"', { topic: "  green tea " });
        assert.equal(spaced.status, 202);
        assert.equal(spaced.headers.get("idempotent-replayed"), "true");
      },
    );

    await t.step("bad keys: 400 invalid_idempotency_key, and no job", async () => {
      for (const key of ['""', "", "k".repeat(256), '"open', "tab\there", "caf\u00e9"]) {
        const answer = await post(server.url, key, { topic: `key ${JSON.stringify(key)}` });
        assert.equal(answer.status, 400, `key ${JSON.stringify(key)}`);
        assert.equal(answer.body.error?.code, "invalid_idempotency_key");
      }
      const longest = await post(server.url, "k".repeat(255), { topic: "longest key" });
      assert.equal(longest.status, 202);
      assert.equal((await jobIds(server.url)).length, 2);
    });

    await t.step("a bad body with a key is refused without touching the key", async () => {
      const bad = await post(server.url, '"order-2"', { topic: "" });
      assert.equal(bad.status, 400);
      const good = await post(server.url, '"order-2"', { topic: "oolong" });
      assert.equal(good.status, 202);
      assert.equal(good.headers.get("idempotent-replayed"), null);
    });

    await t.step("without a key every submit is a job", async () => {
      const before = (await jobIds(server.url)).length;
      await post(server.url, undefined);
      await post(server.url, undefined);
      assert.equal((await jobIds(server.url)).length, before + 2);
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("a replay takes no place in the queue, and a refused first attempt leaves the key free", async () => {
  // One slot, no waiting line: any submit beyond one running job is a 429.
  const server = await startTestServer([
    "--max-concurrent-jobs",
    "1",
    "--max-queued-jobs",
    "0",
    "--offline-delay-ms",
    "60000",
  ]);
  try {
    const first = await post(server.url, "slot-holder");
    assert.equal(first.status, 202);
    const replay = await post(server.url, "slot-holder");
    assert.equal(replay.status, 202, "a replay is no new job: it needs no place");
    assert.equal(replay.headers.get("idempotent-replayed"), "true");

    const refused = await post(server.url, "second", { topic: "second" });
    assert.equal(refused.status, 429);
    const cancel = await fetch(`${server.url}/api/jobs/${first.body.id}`, { method: "DELETE" });
    assert.equal(cancel.status, 202);
    await cancel.body?.cancel();
    await waitFor(() => server.manager.stats().running === 0, 10_000, "the slot to free");

    const retried = await post(server.url, "second", { topic: "second" });
    assert.equal(retried.status, 202, "the 429 did not stick to the key");
    assert.equal(retried.headers.get("idempotent-replayed"), null);
    assert.notEqual(retried.body.id, first.body.id);
  } finally {
    await server.shutdown();
  }
});

Deno.test("a key whose first request is still being handled answers 409; a failed write frees it", async (t) => {
  const store = new GatedStore();
  const server = await startTestServer(["--offline-delay-ms", "60000"], { store });
  try {
    await t.step("409 while the first write is held, then the first answer", async () => {
      store.firstWrite = "hold";
      const pending = post(server.url, "slow");
      await waitFor(() => store.held.length === 1, 10_000, "the first write");
      const during = await post(server.url, "slow");
      assert.equal(during.status, 409);
      assert.equal(during.body.error?.code, "idempotency_key_in_use");
      assert.equal(during.headers.get("retry-after"), "1");
      store.held[0]?.release();
      const first = await pending;
      assert.equal(first.status, 202);
      const after = await post(server.url, "slow");
      assert.equal(after.headers.get("idempotent-replayed"), "true");
      assert.equal(after.body.id, first.body.id);
    });

    await t.step("a first write that fails (503) leaves the key for the retry", async () => {
      store.firstWrite = "reject";
      const failed = await post(server.url, "flaky disk", { topic: "flaky" });
      assert.equal(failed.status, 503);
      assert.equal(failed.body.error?.code, "store_unavailable");
      store.firstWrite = "pass";
      const retried = await post(server.url, "flaky disk", { topic: "flaky" });
      assert.equal(retried.status, 202);
      assert.equal(retried.headers.get("idempotent-replayed"), null);
      assert.equal((await jobIds(server.url)).length, 2);
    });
  } finally {
    await server.shutdown();
  }
});

async function sqliteServer(dir: string): Promise<RunningServer> {
  return await startTestServer([
    "--store",
    "sqlite",
    "--data-dir",
    dir,
    "--offline-delay-ms",
    "60000",
    "--max-queued-jobs",
    "1000",
  ]);
}

Deno.test("sqlite: a burst with one key makes one job, and keys survive a restart", async () => {
  await using dir = await makeTestDir("idempotency");
  let id: string;
  {
    const server = await sqliteServer(dir.path);
    try {
      const answers = await Promise.all(
        Array.from({ length: 30 }, () => post(server.url, '"burst"')),
      );
      id = assertOneJob(answers);
      assert.deepEqual(await jobIds(server.url), [id]);
    } finally {
      await server.shutdown();
    }
  }
  const server = await sqliteServer(dir.path);
  try {
    const replay = await post(server.url, '"burst"');
    assert.equal(replay.status, 202);
    assert.equal(replay.headers.get("idempotent-replayed"), "true");
    assert.equal(replay.body.id, id);
    const other = await post(server.url, '"burst"', { topic: "something else" });
    assert.equal(other.status, 422);
    assert.deepEqual(await jobIds(server.url), [id]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("sqlite: a key left claimed by a process that died is settled from the jobs", async (t) => {
  await using dir = await makeTestDir("idempotency-crash");
  const path = `${dir.path}/quillflow.db`;
  const claimed = (jobId: string) => ({
    fingerprint: "fp",
    jobId,
    leaseUntil: Date.now() + 60_000,
    expiresAt: Date.now() + 86_400_000,
  });
  // What a process leaves when it dies after the job's first write, before it answered.
  {
    const store = SqliteJobStore.open(path);
    const keys = new SqliteIdempotencyStore(store);
    await keys.claim("stored", claimed("job-stored"));
    await store.put(jobRecord("job-stored"));
    await keys.claim("lost", claimed("job-lost"));
    await store.close();
  }
  const store = SqliteJobStore.open(path);
  try {
    const submitted: string[] = [];
    const idempotent = new IdempotentSubmit({
      store: new SqliteIdempotencyStore(store),
      getJob: (id) => store.get(id),
    });
    const submit = (jobId: string): Promise<JobRecord> => {
      submitted.push(jobId);
      return Promise.resolve(jobRecord(jobId));
    };
    await t.step("its job was stored: that job is the answer", async () => {
      const answer = await idempotent.run("stored", "fp", submit);
      assert.deepEqual([answer.replayed, answer.snapshot.id], [true, "job-stored"]);
      assert.deepEqual(submitted, []);
    });
    await t.step("its job was never stored: the key is taken over by a new job", async () => {
      const answer = await idempotent.run("lost", "fp", submit);
      assert.equal(answer.replayed, false);
      assert.deepEqual(submitted, [answer.snapshot.id]);
      assert.notEqual(answer.snapshot.id, "job-lost");
      const again = await idempotent.run("lost", "fp", submit);
      assert.deepEqual([again.replayed, again.snapshot.id], [true, answer.snapshot.id]);
    });
  } finally {
    await store.close();
  }
});

const haveRedis = await hasRedisServer();

Deno.test({
  name: "redis: one key sent to two instances at once makes one job, replayed by both",
  ignore: !haveRedis,
  async fn() {
    const redis = await RedisServer.start();
    const instances: Instance[] = [];
    try {
      const args = [
        "--store",
        "redis",
        "--redis-url",
        redis.url,
        "--offline-delay-ms",
        "60000",
        "--log-level",
        "warn",
      ];
      instances.push(...await Promise.all(["A", "B"].map((name) => Instance.start(name, args))));
      const [a, b] = instances as [Instance, Instance];
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => post((i % 2 ? a : b).url, '"shared"')),
      );
      const id = assertOneJob(answers);
      for (const instance of [a, b]) {
        assert.deepEqual(await jobIds(instance.url), [id], `${instance.name} lists one job`);
        const replay = await post(instance.url, '"shared"');
        assert.equal(replay.status, 202);
        assert.equal(replay.headers.get("idempotent-replayed"), "true");
        assert.equal(replay.body.id, id);
        const other = await post(instance.url, '"shared"', { topic: "another" });
        assert.equal(other.status, 422);
      }
    } finally {
      await stopAll(instances, redis);
    }
  },
});
