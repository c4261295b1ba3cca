/**
 * Several instances sharing jobs on Redis (`STORE=redis`): each test starts its own
 * `redis-server` on a free loopback port with a throw-away directory, and runs instances of
 * `main.ts` as subprocesses.
 */

import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { promptData, type RecordedRequest, startOpenAiServer } from "../testing/openai_server.ts";
import { collectEvents, readSse, type SseEvent } from "../testing/sse_client.ts";
import { hasRedisServer, Instance, RedisServer, stopAll } from "../testing/redis_cluster.ts";
import { startTestServer, waitForValue } from "./_server.ts";

const haveRedis = await hasRedisServer();
if (!haveRedis) {
  console.warn(
    "\n!!! SKIPPING the Redis tests: redis-server is not installed (apt-get install redis-server)\n",
  );
}

function instanceArgs(redis: RedisServer, extra: Record<string, string> = {}): string[] {
  const settings: Record<string, string> = {
    "--store": "redis",
    "--redis-url": redis.url,
    "--log-level": "info",
    "--offline-delay-ms": "100",
    "--job-lock-ms": "1000",
    ...extra,
  };
  return Object.entries(settings).flat();
}

async function startInstances(
  redis: RedisServer,
  count: number,
  extra: Record<string, string> = {},
): Promise<Instance[]> {
  const names = ["A", "B", "C"];
  return await Promise.all(
    names.slice(0, count).map((name) => Instance.start(name, instanceArgs(redis, extra))),
  );
}

/**
 * Starts Redis and `count` instances, runs `body` with them, and always stops them all
 * (even when `body` killed some).
 */
async function withCluster(
  count: number,
  extra: Record<string, string>,
  body: (redis: RedisServer, instances: Instance[]) => Promise<void>,
): Promise<void> {
  const redis = await RedisServer.start();
  let instances: Instance[] = [];
  try {
    instances = await startInstances(redis, count, extra);
    await body(redis, instances);
  } finally {
    await stopAll(instances, redis);
  }
}

async function submit(instance: Instance, topic: string): Promise<string> {
  const response = await fetch(`${instance.url}/api/jobs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ topic }),
  });
  const body = await response.json();
  assert.equal(response.status, 202, JSON.stringify(body));
  return body.id as string;
}

async function getJob(
  instance: Instance,
  id: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${instance.url}/api/jobs/${id}`);
  return { status: response.status, body: await response.json() };
}

/** The instance that logged `msg` for `job`, once one has. */
function whoLogged(instances: Instance[], msg: string, job: string): Promise<Instance> {
  return waitForValue(`"${msg}" for ${job}`, () => instances.find((i) => i.logged(msg, job)));
}

const TERMINAL = new Set(["complete", "error", "cancelled"]);

/**
 * Ids are exactly 1, 2, 3, … n, none missing or repeated, and the last event, the only terminal
 * one, ends the job as `last`: nothing follows a terminal event.
 */
function assertWholeLog(events: SseEvent[], last = "complete"): void {
  assert.deepEqual(events.map((e) => e.id), events.map((_, i) => String(i + 1)), "ids 1..n");
  const ends = events.flatMap((e, i) => TERMINAL.has(e.event) ? [`${e.event} at id ${i + 1}`] : []);
  assert.deepEqual(ends, [`${last} at id ${events.length}`], "one terminal event, the last");
}

/** Reads `url`'s stream until `stop` says so, then hangs up; returns what was read. */
async function readUntil(
  url: string,
  stop: (event: SseEvent) => boolean,
  init: RequestInit = {},
): Promise<SseEvent[]> {
  const response = await fetch(url, init);
  assert.equal(response.status, 200);
  const events: SseEvent[] = [];
  const reader = readSse(response.body as ReadableStream<Uint8Array>, { what: url });
  for await (const event of reader) {
    if (event.comment !== undefined) continue;
    events.push(event);
    if (stop(event)) break;
  }
  await reader.return(undefined);
  await response.body?.cancel().catch(() => {});
  return events;
}

Deno.test({
  name: "redis: instances share jobs, spread the work and cancel each other's jobs",
  ignore: !haveRedis,
  async fn(t) {
    await withCluster(3, {
      "--max-concurrent-jobs": "2",
      "--global-concurrent-jobs": "3",
      "--offline-delay-ms": "300",
    }, async (_redis, instances) => {
      const [a, b, c] = instances as [Instance, Instance, Instance];

      await t.step(
        "a job submitted to A, watched from B and resumed on C streams each event once, in order",
        async () => {
          const id = await submit(a, "tea ceremonies");
          const first = await readUntil(`${b.url}/api/jobs/${id}/events`, (e) => e.id === "6");
          assert.equal(first.length, 6);
          const rest = await collectEvents(`${c.url}/api/jobs/${id}/events`, {
            headers: { "last-event-id": "6" },
          });
          const seen = [...first, ...rest];
          assertWholeLog(seen);
          assert.equal(seen[0]?.event, "status");
          // A full replay from the instance it was submitted to is the same log.
          const replay = await collectEvents(`${a.url}/api/jobs/${id}/events`);
          assert.deepEqual(replay, seen);
          const { body } = await getJob(c, id);
          assert.equal(body.status, "completed");
          assert.equal(body.lastEventId, seen.length);
        },
      );

      await t.step("work is spread over instances and the global running cap holds", async () => {
        const ids: string[] = [];
        for (let i = 0; i < 12; i++) {
          ids.push(await submit(instances[i % 3] as Instance, `spread topic ${i}`));
        }
        await Promise.all(
          ids.map((id, i) =>
            collectEvents(`${instances[(i + 1) % 3]?.url}/api/jobs/${id}/events`).then(
              (events) => assertWholeLog(events),
            )
          ),
        );
        await waitForValue(
          "every run's log lines",
          () => ids.every((id) => instances.some((i) => i.logged("job completed", id))),
        );
        const runs = instances.map((instance) =>
          instance.logs().filter((l) => l.msg === "job started" && ids.includes(l.job ?? ""))
            .length
        );
        assert.equal(runs.reduce((x, y) => x + y, 0), 12, `runs per instance: ${runs}`);
        assert.ok(runs.filter((n) => n > 0).length >= 2, `runs per instance: ${runs}`);
        // Intervals from every instance's logs: never more than 3 jobs running at once.
        const marks = instances.flatMap((instance) =>
          instance.logs().filter((l) => ids.includes(l.job ?? "")).flatMap((l) =>
            l.msg === "job started"
              ? [{ at: Date.parse(l.time), step: 1 }]
              : l.msg === "job completed"
              ? [{ at: Date.parse(l.time), step: -1 }]
              : []
          )
        ).sort((x, y) => x.at - y.at || x.step - y.step);
        let running = 0;
        let most = 0;
        for (const mark of marks) most = Math.max(most, running += mark.step);
        assert.ok(most <= 3, `at most 3 jobs at once, saw ${most}`);
        assert.ok(most >= 2, `jobs ran in parallel, saw ${most}`);
      });

      await t.step("cancelling on another instance stops the job where it runs", async () => {
        const id = await submit(a, "a job to cancel while it runs");
        const runner = await whoLogged(instances, "job started", id);
        const other = instances.find((i) => i !== runner) as Instance;
        const response = await fetch(`${other.url}/api/jobs/${id}`, { method: "DELETE" });
        const body = await response.json();
        assert.equal(response.status, 202);
        assert.equal(body.status, "cancelled");
        await whoLogged([runner], "job cancelled", id);
        const events = await collectEvents(`${other.url}/api/jobs/${id}/events`);
        assertWholeLog(events, "cancelled");
        assert.equal(events.filter((e) => e.event === "cancelled").length, 1);
      });

      await t.step("a waiting job cancelled on another instance never runs", async () => {
        const busy: string[] = [];
        for (let i = 0; i < 3; i++) busy.push(await submit(a, `busy ${i}`));
        await waitForValue(
          "3 jobs running",
          () => busy.every((id) => instances.some((i) => i.logged("job started", id))),
        );
        const id = await submit(b, "a job that waits");
        const response = await fetch(`${c.url}/api/jobs/${id}`, { method: "DELETE" });
        const body = await response.json();
        assert.equal(response.status, 202);
        assert.equal(body.status, "cancelled");
        const events = await collectEvents(`${a.url}/api/jobs/${id}/events`);
        assert.deepEqual(events.map((e) => [e.id, e.event]), [["1", "status"], [
          "2",
          "cancelled",
        ]]);
        await Promise.all(busy.map((job) => collectEvents(`${b.url}/api/jobs/${job}/events`)));
        assert.ok(!instances.some((i) => i.logged("job started", id)), "it never ran");
        const again = await fetch(`${a.url}/api/jobs/${id}`, { method: "DELETE" });
        assert.equal(again.status, 409);
        await again.body?.cancel();
      });
    });
  },
});

/**
 * Runs a job on one of two instances, calls `interrupt` with the instance running it once the
 * outline and the first section are paid for and the second is being written, and reads the job
 * to its end from the other instance. Checks the hand-over: a whole log with one terminal event,
 * the outline and each section finished once, and each section whole in the article (text the
 * interrupted run left half-written was voided before being written again).
 */
async function handOver(
  topic: string,
  interrupt: (runner: Instance, survivor: Instance, id: string) => Promise<void>,
  check: (
    seen: SseEvent[],
    context: { runner: Instance; survivor: Instance; id: string; url: string },
  ) => Promise<void>,
): Promise<void> {
  await withCluster(2, {
    "--offline-delay-ms": "500",
    "--section-concurrency": "1",
    "--job-lock-ms": "1000",
  }, async (_redis, instances) => {
    const id = await submit(instances[0] as Instance, topic);
    const runner = await whoLogged(instances, "job started", id);
    const survivor = instances.find((i) => i !== runner) as Instance;
    const url = `${survivor.url}/api/jobs/${id}/events`;
    const before = await readUntil(
      url,
      (e) => e.event === "delta" && JSON.parse(e.data).index === 1,
    );
    await interrupt(runner, survivor, id);
    const after = await collectEvents(url, { headers: { "last-event-id": before.at(-1)!.id } });
    const seen = [...before, ...after];
    assertWholeLog(seen);
    const progress = seen.filter((e) => e.event === "progress").map((e) => JSON.parse(e.data));
    // Finished steps are not done (and paid for) again.
    assert.equal(progress.filter((p) => p.step === "outline").length, 1);
    const indexes = progress.filter((p) => p.step === "content").map((p) => p.index);
    assert.deepEqual([...indexes].sort(), [0, 1, 2], "each section finished once");
    const complete = JSON.parse(seen.at(-1)!.data);
    assert.equal(complete.sections.length, 3);
    for (const index of [0, 1, 2]) {
      let text = "";
      for (const e of seen.filter((e) => e.event === "delta")) {
        const d = JSON.parse(e.data);
        if (d.step !== "content" || d.index !== index) continue;
        text = d.reset ? "" : text + d.text;
      }
      const whole = text.trim() !== "" && complete.article.includes(text.trim());
      assert.ok(whole, `section ${index} is whole`);
    }
    await check(seen, { runner, survivor, id, url });
  });
}

Deno.test({
  name: "redis: killing the instance running a job hands it over without repeats",
  ignore: !haveRedis,
  async fn() {
    await handOver("lighthouses", async (runner, survivor, id) => {
      await runner.kill("SIGKILL");
      await whoLogged([survivor], "job resumed", id);
    }, async (seen, { url }) => {
      assert.equal(seen.filter((e) => e.event === "status").length, 2); // queued, running
      // A late reader sees the same log.
      assert.deepEqual(await collectEvents(url), seen);
    });
  },
});

Deno.test({
  name:
    "redis: a restart keeps finished jobs; while it is down /healthz says so and submits get 503",
  ignore: !haveRedis,
  async fn() {
    await withCluster(2, {}, async (redis, instances) => {
      const [a, b] = instances as [Instance, Instance];
      const id = await submit(a, "tides");
      const log = await collectEvents(`${b.url}/api/jobs/${id}/events`);
      assertWholeLog(log);

      await redis.stop();
      const health = await waitForValue("/healthz to report Redis", async () => {
        const response = await fetch(`${a.url}/healthz`);
        const body = await response.json();
        return response.status === 503 ? body : undefined;
      });
      assert.deepEqual(health, { status: "degraded", redis: "unreachable" });
      // Redis stays down until it is restarted below: any answer shows the submit did not wait
      // for it (the signal only turns a hang into a failure).
      const refused = await fetch(`${b.url}/api/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ topic: "while Redis is down" }),
        signal: AbortSignal.timeout(30_000),
      });
      const error = await refused.json();
      assert.equal(refused.status, 503);
      assert.equal(error.error.code, "store_unavailable");
      // Metrics still answer, with this instance's figures only.
      const metrics = await fetch(`${a.url}/metrics`);
      assert.equal(metrics.status, 200);
      const text = await metrics.text();
      assert.match(text, /^quillflow_jobs_running 0$/m);
      assert.doesNotMatch(text, /quillflow_shared_jobs/);

      await redis.restart();
      await waitForValue("healthy again", async () => {
        const response = await fetch(`${b.url}/healthz`);
        await response.body?.cancel();
        return response.status === 200;
      });
      const { status, body } = await getJob(b, id);
      assert.equal(status, 200);
      assert.equal(body.status, "completed");
      assert.deepEqual(await collectEvents(`${a.url}/api/jobs/${id}/events`), log);
      // And new work runs again.
      const next = await submit(b, "after the restart");
      assertWholeLog(await collectEvents(`${a.url}/api/jobs/${next}/events`));
    });
  },
});

Deno.test({
  name: "redis: finished jobs expire on every instance after JOB_TTL",
  ignore: !haveRedis,
  async fn() {
    await withCluster(2, { "--job-ttl": "2s" }, async (_redis, instances) => {
      const [a, b] = instances as [Instance, Instance];
      const id = await submit(a, "mayflies");
      assertWholeLog(await collectEvents(`${b.url}/api/jobs/${id}/events`));
      assert.equal((await getJob(b, id)).status, 200);
      await waitForValue(
        "the job to expire",
        async () => (await getJob(b, id)).status === 404,
        8_000,
      );
      assert.equal((await getJob(a, id)).status, 404);
      const list = await (await fetch(`${a.url}/api/jobs`)).json();
      assert.ok(!list.jobs.some((job: { id: string }) => job.id === id));
    });
  },
});

Deno.test({
  name: "redis: an unreachable Redis at start is a clear error and a non-zero exit",
  ignore: !haveRedis,
  async fn() {
    // Nothing can listen on port 0, so the connection is refused for sure; a port found free a
    // moment before could be taken by then.
    const port = 0;
    const { code, stderr } = await Instance.runToExit([
      "--store",
      "redis",
      "--redis-url",
      `redis://127.0.0.1:${port}`,
    ]);
    assert.equal(code, 1);
    assert.match(
      stderr,
      new RegExp(`cannot start: Redis at redis://127.0.0.1:${port}/? is unreachable`),
    );
    assert.match(stderr, /ECONNREFUSED/);
  },
});

Deno.test({
  name: "redis: SIGTERM hands unfinished jobs to another instance at once",
  ignore: !haveRedis,
  async fn() {
    // The first call for the second section never answers, so the job is surely unfinished when
    // SIGTERM arrives, however slow the machine: a timed offline writer could finish it first.
    const second = (request: RecordedRequest) =>
      request.prompt.includes("Write a short paragraph") &&
      (promptData(request.prompt)[1] ?? "").startsWith("Key ideas");
    let held: RecordedRequest | undefined;
    const llm = await startOpenAiServer({
      script: (request) => {
        if (held || !second(request)) return undefined;
        held = request;
        return { hang: true };
      },
    });
    try {
      // A long lock: the hand-over must not wait for it to expire.
      await withCluster(2, {
        "--openai-base-url": llm.baseUrl,
        "--openai-api-key": "k",
        "--llm-model": "m",
        "--section-concurrency": "1",
        "--job-lock-ms": "30s",
        "--shutdown-grace-ms": "0",
      }, async (_redis, instances) => {
        const id = await submit(instances[0] as Instance, "harbours");
        const runner = await whoLogged(instances, "job started", id);
        const survivor = instances.find((i) => i !== runner) as Instance;
        const url = `${survivor.url}/api/jobs/${id}/events`;
        const before = await readUntil(
          url,
          (e) => e.event === "progress" && /"index"/.test(e.data),
        );
        await waitForValue("the runner's call for the second section", () => held);
        await runner.kill("SIGTERM");
        assert.ok(runner.logged("job released", id), "the stopping instance released it");
        assert.ok(held?.aborted, "the stopping instance abandoned its call");
        const after = await collectEvents(url, { headers: { "last-event-id": before.at(-1)!.id } });
        const seen = [...before, ...after];
        assertWholeLog(seen);
        await whoLogged([survivor], "job resumed", id);
        // Taken up from the waiting line at once, not found by BullMQ's stalled-job check once
        // the 30 s lock had expired.
        assert.ok(!survivor.logged("job stalled, resuming", id), "resumed only after the lock");
        const progress = seen.filter((e) => e.event === "progress").map((e) => JSON.parse(e.data));
        assert.equal(progress.filter((p) => p.step === "outline").length, 1);
        assert.deepEqual(progress.filter((p) => p.step === "content").map((p) => p.index).sort(), [
          0,
          1,
          2,
        ]);
        assert.equal(seen.filter((e) => e.event === "cancelled").length, 0);
        // Paid for once each, but for the call the stopping instance abandoned.
        assert.equal(llm.requests.filter(second).length, 2);
        assert.equal(llm.requests.length, 6, "outline, 3 sections (one twice), style");
      });
    } finally {
      await llm.close();
    }
  },
});

Deno.test({
  name: "redis: an instance stopping hands its job back and never takes it again itself",
  ignore: !haveRedis,
  async fn() {
    // One instance at a time: nothing else waits on the queue, so the stopping one's own fetch,
    // already under way, is the only one that could take the job it hands back. Twice over, as
    // that fetch is not always under way at the moment it matters.
    const redis = await RedisServer.start();
    const instances: Instance[] = [];
    try {
      const args = instanceArgs(redis, {
        "--offline-delay-ms": "500",
        "--section-concurrency": "1",
        "--job-lock-ms": "30s",
        "--shutdown-grace-ms": "0",
      });
      const runs = (instance: Instance, msg: string, id: string) =>
        instance.logs().filter((line) => line.msg === msg && line.job === id).length;
      const a = await Instance.start("A", args);
      instances.push(a);
      const id = await submit(a, "ferries");
      let runner = a;
      await whoLogged([a], "job started", id);
      for (const name of ["B", "C"]) {
        const resumedBefore = runs(runner, "job resumed", id);
        await runner.kill("SIGTERM");
        assert.equal(runs(runner, "job released", id), 1, `${runner.name} released it`);
        assert.equal(runs(runner, "job resumed", id), resumedBefore, `${runner.name} took it back`);
        assert.equal(runs(runner, "job completed", id), 0, `${runner.name} ran it to its end`);
        const next = await Instance.start(name, args);
        instances.push(next);
        await whoLogged([next], "job resumed", id);
        runner = next;
      }
      assertWholeLog(await collectEvents(`${runner.url}/api/jobs/${id}/events`));
    } finally {
      await stopAll(instances, redis);
    }
  },
});

Deno.test({
  name: "redis: the shared waiting line is bounded by MAX_QUEUED_JOBS",
  ignore: !haveRedis,
  async fn() {
    await withCluster(2, {
      "--max-queued-jobs": "1",
      "--global-concurrent-jobs": "1",
      "--offline-delay-ms": "300",
    }, async (_redis, instances) => {
      // One running slot (the global cap) and one waiting place, for submits in the same tick
      // to either instance: exactly two are accepted.
      const responses = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          fetch(`${instances[i % 2]?.url}/api/jobs`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ topic: `queue bound ${i}` }),
          })),
      );
      const ids: string[] = [];
      for (const response of responses) {
        const body = await response.json();
        if (response.status === 202) {
          ids.push(body.id);
          continue;
        }
        assert.equal(response.status, 429);
        assert.equal(response.headers.get("retry-after"), "5");
        assert.equal(body.error.code, "queue_full");
      }
      assert.equal(ids.length, 2, `accepted ${ids.length}`);
      // Every instance's /metrics shows the shared line, not just its own jobs.
      for (const instance of instances) {
        const shared = await waitForValue("the first job to run", async () => {
          const text = await (await fetch(`${instance.url}/metrics`)).text();
          const gauge = (name: string) =>
            Number(new RegExp(`^${name} (\\d+)$`, "m").exec(text)?.[1]);
          const counts = {
            waiting: gauge("quillflow_shared_jobs_waiting"),
            running: gauge("quillflow_shared_jobs_running"),
          };
          return counts.running === 1 ? counts : undefined;
        });
        assert.equal(shared.waiting, ids.length - 1);
      }
      for (const id of ids) {
        assertWholeLog(await collectEvents(`${instances[1]?.url}/api/jobs/${id}/events`));
      }
    });
  },
});

Deno.test({
  name: "redis: a job running while Redis restarts still ends with a whole log",
  ignore: !haveRedis,
  async fn() {
    await withCluster(2, {
      "--offline-delay-ms": "400",
      "--section-concurrency": "1",
      "--job-lock-ms": "2000",
    }, async (redis, instances) => {
      const id = await submit(instances[0] as Instance, "storms");
      await whoLogged(instances, "job started", id);
      await new Promise((resolve) => setTimeout(resolve, 600));
      await redis.stop();
      await new Promise((resolve) => setTimeout(resolve, 800));
      await redis.restart();
      const events = await waitForValue("the job to end", async () => {
        const response = await fetch(`${instances[1]?.url}/api/jobs/${id}`);
        const body = await response.json();
        return body.status === "completed"
          ? await collectEvents(`${instances[1]?.url}/api/jobs/${id}/events`)
          : undefined;
      }, 30_000);
      assertWholeLog(events);
      // A run that lost events was run again. (Logs arrive through pipes: wait for them.)
      if (instances.some((i) => i.logged("event not stored", id))) {
        await whoLogged(instances, "job resumed", id);
      }
    });
  },
});

Deno.test({
  name: "redis: an instance that changes GLOBAL_CONCURRENT_JOBS another one set says so",
  ignore: !haveRedis,
  async fn() {
    const redis = await RedisServer.start();
    const instances: Instance[] = [];
    try {
      const changed = (i: Instance) =>
        i.logs().filter((l) => l.msg === "global concurrency changed");
      instances.push(
        await Instance.start("A", instanceArgs(redis, { "--global-concurrent-jobs": "2" })),
      );
      instances.push(
        await Instance.start("B", instanceArgs(redis, { "--global-concurrent-jobs": "2" })),
      );
      instances.push(
        await Instance.start("C", instanceArgs(redis, { "--global-concurrent-jobs": "3" })),
      );
      const [a, b, c] = instances as [Instance, Instance, Instance];
      assert.deepEqual(changed(a), [], "the first to set it");
      assert.deepEqual(changed(b), [], "the same value");
      assert.deepEqual(changed(c).map((l) => [l.level, l.from, l.to]), [["warn", 2, 3]]);
    } finally {
      await stopAll(instances, redis);
    }
  },
});

Deno.test({
  name: "redis: an instance frozen past JOB_LOCK_MS loses its job and writes nothing more to it",
  ignore: !haveRedis,
  async fn() {
    await handOver("glaciers", async (runner, survivor, id) => {
      // The runner stalls (a long GC pause, a stopped VM) until the survivor has taken over,
      // then wakes up in the middle of its run, still believing the job is its own.
      runner.freeze(true);
      try {
        await whoLogged([survivor], "job resumed", id);
      } finally {
        runner.freeze(false);
      }
    }, async (seen, { runner, survivor, id, url }) => {
      // The woken runner finds the job is no longer its own and leaves it alone: a while later
      // the log and the record are still the survivor's.
      await whoLogged([runner], "job taken over", id);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      assert.deepEqual(await collectEvents(url), seen);
      const { body } = await getJob(survivor, id);
      assert.equal(body.status, "completed");
      assert.equal(body.lastEventId, seen.length);
    });
  },
});

Deno.test({
  name: "redis: a malformed message on the cancel channel is ignored, not fatal",
  ignore: !haveRedis,
  async fn() {
    await withCluster(2, { "--offline-delay-ms": "300" }, async (redis, instances) => {
      const [a, b] = instances as [Instance, Instance];
      const client = new Redis(redis.url);
      try {
        for (const message of ["not json", "null", '{"id":42}', "[]"]) {
          await client.publish("qf:bull:cancel", message);
        }
      } finally {
        await client.quit();
      }
      for (const instance of instances) {
        await waitForValue(
          `${instance.name} to log the ignored messages`,
          () =>
            instance.logs().filter((line) => line.msg === "cancel message ignored").length === 4,
        );
        const health = await fetch(`${instance.url}/healthz`);
        assert.equal(health.status, 200);
        await health.body?.cancel();
      }
      // Cancelling across instances still works.
      const id = await submit(a, "a job cancelled after the noise");
      const runner = await whoLogged(instances, "job started", id);
      const other = runner === a ? b : a;
      const response = await fetch(`${other.url}/api/jobs/${id}`, { method: "DELETE" });
      assert.equal(response.status, 202);
      await response.body?.cancel();
      assertWholeLog(await collectEvents(`${other.url}/api/jobs/${id}/events`), "cancelled");
    });
  },
});

Deno.test({
  name: "redis: a start that fails leaves no worker and no connection open",
  ignore: !haveRedis,
  async fn() {
    // In this process, so the test's leak checks see any timer or socket left behind.
    const redis = await RedisServer.start();
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const probe = new Redis(redis.url);
    try {
      await assert.rejects(
        startTestServer([
          "--store",
          "redis",
          "--redis-url",
          redis.url,
          "--port",
          String(taken.addr.port),
        ]),
        Deno.errors.AddrInUse,
      );
      // Only the probe itself is still connected.
      await waitForValue("the instance's connections to close", async () => {
        const clients = String(await probe.call("CLIENT", "LIST")).trim().split("\n");
        return clients.length === 1;
      });
    } finally {
      taken.close();
      await probe.quit();
      await redis.destroy();
    }
  },
});
