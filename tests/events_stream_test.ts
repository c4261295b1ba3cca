/**
 * `GET /api/events`: one connection for many jobs, listed (`?jobs=`) or every job, resumed with
 * the cursor each frame carries, on the memory, sqlite and Redis stores.
 */

import assert from "node:assert/strict";
import { collectEvents, readSse } from "../testing/sse_client.ts";
import { hasRedisServer, Instance, RedisServer, stopAll } from "../testing/redis_cluster.ts";
import { JobFeed, type JobsFeedItem } from "../src/jobs/job_feed.ts";
import { MemoryJobStore } from "../src/store/memory_job_store.ts";
import { SseStream } from "../src/http/sse_encoder.ts";
import type { LlmClient } from "../src/llm/llm_client.ts";
import { startTestServer, submit, waitFor } from "./_server.ts";
import { makeTestDir } from "./test_dir.ts";

const TERMINAL = new Set(["complete", "error", "cancelled"]);

/** One frame of the stream of several jobs. */
interface Frame {
  cursor: string;
  type: string;
  job: string;
  eventId: number;
  /** `data` without `job` and `eventId`: what the job's own stream sends. */
  data: Record<string, unknown>;
}

/**
 * Reads frames from `url` until the server ends the stream, or until `enough` says so (then the
 * connection is dropped, as a network cut would).
 */
async function readFrames(
  url: string,
  headers: Record<string, string> = {},
  enough: (frames: Frame[]) => boolean = () => false,
): Promise<Frame[]> {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  if (response.status !== 200) {
    throw new Error(`GET ${url} answered ${response.status}: ${await response.text()}`);
  }
  const frames: Frame[] = [];
  for await (const event of readSse(response.body!)) {
    if (event.comment !== undefined || event.event === "shutdown") continue;
    const { job, eventId, ...data } = JSON.parse(event.data);
    frames.push({ cursor: event.id, type: event.event, job, eventId, data });
    if (enough(frames)) {
      controller.abort();
      break;
    }
  }
  return frames;
}

/** Each job's own stream, as `job|eventId|type|data` lines: the reference a stream must match. */
async function ownStreams(base: string, ids: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const id of ids) {
    const events = await collectEvents(`${base}/api/jobs/${id}/events`);
    out.set(id, events.map((e) => `${id}|${e.id}|${e.event}|${e.data}`));
  }
  return out;
}

/** The frames of `ids`, per job, in the same shape as {@linkcode ownStreams}. */
function perJob(frames: readonly Frame[], ids: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const f of frames) {
    out.get(f.job)?.push(`${f.job}|${f.eventId}|${f.type}|${JSON.stringify(f.data)}`);
  }
  return out;
}

function terminalsSeen(frames: readonly Frame[]): number {
  return frames.filter((f) => TERMINAL.has(f.type)).length;
}

async function submitMany(base: string, count: number, prefix: string): Promise<string[]> {
  const jobs = await Promise.all(
    Array.from({ length: count }, (_, i) => submit(base, `${prefix} ${i + 1}`)),
  );
  return jobs.map((job) => job.id);
}

/**
 * The scenario every store must pass: one connection listing `count` jobs (and one following
 * every job, opened before they were submitted) is dropped midway and resumed with
 * `Last-Event-ID` on `resumeBase` (another instance, with Redis); every job's events arrive
 * exactly once, in order, as its own stream has them.
 */
async function dropAndResume(
  submitBase: string,
  firstBase: string,
  resumeBase: string,
  count: number,
): Promise<void> {
  // Following every job from before the jobs exist: all of their events are "new".
  const everyController = new AbortController();
  const everyResponse = await fetch(`${firstBase}/api/events`, {
    signal: everyController.signal,
  });
  assert.equal(everyResponse.status, 200);
  const everyFrames: Frame[] = [];
  const everyReader = (async () => {
    for await (const event of readSse(everyResponse.body!, { timeoutMs: Infinity })) {
      if (event.comment !== undefined || event.event === "shutdown") continue;
      const { job, eventId, ...data } = JSON.parse(event.data);
      everyFrames.push({ cursor: event.id, type: event.event, job, eventId, data });
      if (everyFrames.length === 25) {
        everyController.abort();
        break;
      }
    }
  })().catch((error) => {
    if (!everyController.signal.aborted) throw error;
  });

  const ids = await submitMany(submitBase, count, "Watched together");
  const listed = `${firstBase}/api/events?jobs=${ids.join(",")}`;
  const before = await readFrames(listed, {}, (frames) => frames.length === 30);
  assert.equal(before.length, 30);
  const after = await readFrames(`${resumeBase}/api/events?jobs=${ids.join(",")}`, {
    "last-event-id": before.at(-1)!.cursor,
  });
  assert.equal(terminalsSeen([...before, ...after]), count, "the resumed stream ends every job");

  await everyReader;
  assert.equal(everyFrames.length, 25);
  const rest = await readFrames(
    `${resumeBase}/api/events`,
    { "last-event-id": everyFrames.at(-1)!.cursor },
    (frames) => terminalsSeen([...everyFrames, ...frames]) === count,
  );

  const reference = await ownStreams(submitBase, ids);
  for (const id of ids) {
    const own = reference.get(id)!;
    assert.equal(own.at(-1)?.split("|")[2], "complete");
    assert.deepEqual(perJob([...before, ...after], ids).get(id), own, `listed, job ${id}`);
    assert.deepEqual(perJob([...everyFrames, ...rest], ids).get(id), own, `every, job ${id}`);
  }
}

Deno.test("one /api/events connection watching 12 concurrent jobs gets every event of each, in order", async () => {
  const server = await startTestServer([
    "--store",
    "memory",
    "--offline-delay-ms",
    "30",
    "--max-concurrent-jobs",
    "12",
  ]);
  try {
    const ids = await submitMany(server.url, 12, "Concurrent");
    const frames = await readFrames(`${server.url}/api/events?jobs=${ids.join(",")}`);
    // The server ended the stream after the twelfth job's end, and only then.
    assert.equal(terminalsSeen(frames), 12);
    assert.ok(TERMINAL.has(frames.at(-1)!.type));
    const reference = await ownStreams(server.url, ids);
    const got = perJob(frames, ids);
    for (const id of ids) assert.deepEqual(got.get(id), reference.get(id), `job ${id}`);
    assert.equal(frames.length, [...reference.values()].reduce((n, list) => n + list.length, 0));
    // Interleaved as they happened: some job's events come after another job's first event.
    const firstOf = new Map<string, number>();
    frames.forEach((f, i) => firstOf.has(f.job) || firstOf.set(f.job, i));
    assert.ok(Math.max(...firstOf.values()) < frames.length - 1 - 12, "jobs interleave");
    // The cursor is opaque text fit for an `id:` line, and it differs frame to frame.
    assert.ok(frames.every((f) => /^[A-Za-z0-9_-]+$/.test(f.cursor)));
    assert.equal(new Set(frames.map((f) => f.cursor)).size, frames.length);
  } finally {
    await server.shutdown();
  }
});

Deno.test("a dropped /api/events stream resumes with Last-Event-ID, nothing missed or repeated", async (t) => {
  await t.step("memory store", async () => {
    const server = await startTestServer([
      "--store",
      "memory",
      "--offline-delay-ms",
      "40",
      "--max-concurrent-jobs",
      "12",
    ]);
    try {
      await dropAndResume(server.url, server.url, server.url, 12);
    } finally {
      await server.shutdown();
    }
  });

  await t.step("sqlite store", async () => {
    await using dir = await makeTestDir("events-sqlite");
    const server = await startTestServer([
      "--store",
      "sqlite",
      "--data-dir",
      dir.path,
      "--offline-delay-ms",
      "40",
      "--max-concurrent-jobs",
      "12",
    ]);
    try {
      await dropAndResume(server.url, server.url, server.url, 12);
    } finally {
      await server.shutdown();
    }
  });
});

Deno.test("a listed stream resumes with ?since= and with per-job positions in ?jobs=", async () => {
  const server = await startTestServer(["--store", "memory", "--offline-delay-ms", "0"]);
  try {
    const ids = await submitMany(server.url, 3, "Positions");
    const reference = await ownStreams(server.url, ids);
    const list = ids.join(",");
    const first = await readFrames(
      `${server.url}/api/events?jobs=${list}`,
      {},
      (f) => f.length === 10,
    );
    const since = await readFrames(
      `${server.url}/api/events?jobs=${list}&since=${encodeURIComponent(first.at(-1)!.cursor)}`,
    );
    const joined = perJob([...first, ...since], ids);
    for (const id of ids) assert.deepEqual(joined.get(id), reference.get(id));
    // `id:n` starts that job after its event n; the others from their first.
    const [a, b, c] = ids as [string, string, string];
    const partial = await readFrames(`${server.url}/api/events?jobs=${a}:3,${b},${c}:0`);
    assert.deepEqual(perJob(partial, ids).get(a), reference.get(a)!.slice(3));
    assert.deepEqual(perJob(partial, ids).get(b), reference.get(b));
    // A finished job listed after its last event has nothing to send: the stream ends at once.
    const last = reference.get(a)!.length;
    assert.deepEqual(await readFrames(`${server.url}/api/events?jobs=${a}:${last}`), []);
  } finally {
    await server.shutdown();
  }
});

Deno.test("the stream of every job starts at the moment of connecting and takes in new jobs", async () => {
  const server = await startTestServer(["--store", "memory", "--offline-delay-ms", "0"]);
  try {
    const [old] = await submitMany(server.url, 1, "Before");
    await collectEvents(`${server.url}/api/jobs/${old}/events`); // it has ended
    const controller = new AbortController();
    const response = await fetch(`${server.url}/api/events`, { signal: controller.signal });
    const frames: Frame[] = [];
    const reading = (async () => {
      for await (const event of readSse(response.body!)) {
        if (event.comment !== undefined) continue;
        const { job, eventId, ...data } = JSON.parse(event.data);
        frames.push({ cursor: event.id, type: event.event, job, eventId, data });
        if (terminalsSeen(frames) === 2) break;
      }
    })();
    const fresh = await submitMany(server.url, 2, "After");
    await reading;
    controller.abort();
    assert.ok(frames.every((f) => f.job !== old), "nothing of the job that ended before");
    const reference = await ownStreams(server.url, fresh);
    for (const id of fresh) assert.deepEqual(perJob(frames, fresh).get(id), reference.get(id));
  } finally {
    await server.shutdown();
  }
});

Deno.test("/api/events refuses bad job lists and cursors with 4xx JSON", async (t) => {
  const server = await startTestServer(["--store", "memory", "--offline-delay-ms", "0"]);
  try {
    const ids = await submitMany(server.url, 2, "Refusals");
    await ownStreams(server.url, ids); // both have ended
    const [a, b] = ids as [string, string];
    const expect = async (
      query: string,
      status: number,
      code: string,
      headers: Record<string, string> = {},
    ) => {
      const response = await fetch(`${server.url}/api/events${query}`, { headers });
      const body = await response.json();
      assert.equal(response.status, status, `${query}: ${JSON.stringify(body)}`);
      assert.equal(body.error.code, code, query);
      assert.equal(typeof body.error.message, "string");
      assert.match(response.headers.get("content-type") ?? "", /application\/json/);
    };
    const unknown = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    await t.step("empty, too long, malformed or repeated lists: 400", async () => {
      await expect("?jobs=", 400, "invalid_jobs");
      await expect("?jobs=,", 400, "invalid_jobs");
      const many = Array.from({ length: 101 }, () => crypto.randomUUID()).join(",");
      await expect(`?jobs=${many}`, 400, "invalid_jobs");
      await expect("?jobs=not-a-job", 400, "invalid_jobs");
      await expect(`?jobs=${a},${a}`, 400, "invalid_jobs");
      await expect(`?jobs=${a}:x`, 400, "invalid_jobs");
      await expect(`?jobs=${a}:-1`, 400, "invalid_jobs");
      await expect(`?jobs=${a.toUpperCase()}`, 400, "invalid_jobs");
    });
    await t.step("100 ids is the limit, not an error", async () => {
      const hundred = [a, ...Array.from({ length: 99 }, () => unknown)];
      // Duplicates of an unknown id are refused as such; 100 distinct unknown ids are a 404.
      await expect(`?jobs=${hundred.join(",")}`, 400, "invalid_jobs");
      const distinct = [a, ...Array.from({ length: 99 }, () => crypto.randomUUID())];
      await expect(`?jobs=${distinct.join(",")}`, 404, "not_found");
    });
    await t.step("an unknown job: 404 naming it", async () => {
      const response = await fetch(`${server.url}/api/events?jobs=${a},${unknown}`);
      assert.equal(response.status, 404);
      assert.match((await response.json()).error.message, new RegExp(unknown));
    });
    await t.step("a position past a job's last event: 400", async () => {
      await expect(`?jobs=${a}:9999`, 400, "invalid_last_event_id");
    });
    await t.step(
      "cursors that are garbage, of another list, or of the other form: 400",
      async () => {
        const [frame] = await readFrames(`${server.url}/api/events?jobs=${a},${b}`, {}, () => true);
        assert.ok(frame);
        await expect(`?jobs=${a},${b}`, 400, "invalid_cursor", { "last-event-id": "%%%" });
        await expect(`?jobs=${a},${b}`, 400, "invalid_cursor", { "last-event-id": "QUJD" });
        await expect(`?jobs=${b},${a}`, 400, "invalid_cursor", { "last-event-id": frame.cursor });
        await expect(`?jobs=${a}`, 400, "invalid_cursor", { "last-event-id": frame.cursor });
        await expect("", 400, "invalid_cursor", { "last-event-id": frame.cursor });
        await expect(`?since=${frame.cursor}`, 400, "invalid_cursor");
      },
    );
    await t.step(
      "a cursor of every job ahead of the store (emptied by a restart): 400",
      async () => {
        const ahead = btoa("A999999").replace(/=+$/, "");
        await expect("", 400, "invalid_cursor", { "last-event-id": ahead });
      },
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("a stream of several jobs whose client stops reading is bounded and dropped", async (t) => {
  await t.step(
    "in process: at most about twice the buffer is framed, then it is dropped",
    async () => {
      const store = new MemoryJobStore();
      const feed = new JobFeed({ store, heartbeatMs: 1_000, stallMs: 100 });
      let framed = 0;
      const stream = new SseStream<JobsFeedItem>(() => (framed++, new Uint8Array(10_000)), {
        highWaterMark: 4,
      });
      const writer = stream.writable.getWriter();
      feed.subscribeJobs([
        { id: "a", afterId: 0, finished: false },
        { id: "b", afterId: 0, finished: false },
      ], { writer, abort: (reason) => stream.abort(reason) });
      for (let id = 1; id <= 500; id++) {
        for (const job of ["a", "b"]) {
          await store.append(job, { id, type: "delta", data: { step: "content", text: "x" } });
          feed.notify(job);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.ok(framed <= 2 * 4, `framed ${framed}`);
      await waitFor(() => feed.size === 0, 2_000, "the stalled subscriber to be dropped");
      assert.equal(feed.stalledDrops, 1);
      await stream.readable.cancel().catch(() => {});
    },
  );

  await t.step("over TCP: the jobs and other watchers go on", async () => {
    // Sections of 4 MB in small pieces: more than the socket buffers hold.
    const chunk = "lorem ipsum dolor sit amet ".repeat(40);
    const llm: LlmClient = {
      provider: "test",
      model: "big",
      complete(request, options) {
        if (request.purpose === "outline") {
          return Promise.resolve("```yaml\nsections:\n  - A\n  - B\n  - C\n```");
        }
        if (request.purpose === "style") return Promise.resolve("# Short\n\nDone.");
        let text = "";
        for (let i = 0; i < 4_000; i++) {
          options?.onDelta?.(chunk);
          text += chunk;
        }
        return Promise.resolve(text);
      },
    };
    const server = await startTestServer([
      "--store",
      "memory",
      "--sse-client-buffer",
      "4",
      "--sse-stall-ms",
      "300",
    ], { llm });
    try {
      const ids = await submitMany(server.url, 2, "Slow reader");
      const { port } = new URL(server.url);
      const stuck = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
      await stuck.write(
        new TextEncoder().encode(
          `GET /api/events?jobs=${ids.join(",")} HTTP/1.1\r\nHost: x\r\n\r\n`,
        ),
      );
      const healthy = await readFrames(`${server.url}/api/events?jobs=${ids.join(",")}`);
      assert.equal(terminalsSeen(healthy), 2);
      await waitFor(
        () => server.manager.stats().stalledDrops === 1,
        5_000,
        "the stuck client to be dropped",
      );
      await waitFor(() => server.manager.stats().streams === 0, 5_000, "streams to close");
      stuck.close();
    } finally {
      await server.shutdown();
    }
  });
});

const haveRedis = await hasRedisServer();
if (!haveRedis) {
  console.warn("\n!!! SKIPPING the Redis stream tests: redis-server is not installed\n");
}

Deno.test({
  name:
    "Redis, two instances: a stream dropped on one resumes on the other, nothing missed or repeated",
  ignore: !haveRedis,
  async fn() {
    const redis = await RedisServer.start();
    const instances: Instance[] = [];
    try {
      for (const name of ["A", "B"]) {
        instances.push(
          await Instance.start(name, [
            "--store",
            "redis",
            "--redis-url",
            redis.url,
            "--offline-delay-ms",
            "60",
            "--max-concurrent-jobs",
            "6",
            "--log-level",
            "warn",
          ]),
        );
      }
      const [a, b] = instances as [Instance, Instance];
      // Jobs run on both instances (6 each); streams start on A and resume on B.
      await dropAndResume(a.url, a.url, b.url, 12);
    } finally {
      await stopAll(instances, redis);
    }
  },
});

Deno.test("memory store: the order of every job keeps each event's position while evicted jobs leave it", async () => {
  const store = new MemoryJobStore();
  const jobs = Array.from({ length: 100 }, (_, n) => `job-${n}`);
  for (const id of jobs) {
    for (let event = 1; event <= 3; event++) {
      await store.append(id, { id: event, type: "status", data: {} });
    }
  }
  const all = await store.eventsSince("0", 1_000);
  assert.deepEqual(all.map((placed) => placed.position), all.map((_, i) => String(i + 1)));
  // Past the half of the order (the front is cut off there), then on, and one out of order.
  const gone = new Set([...jobs.slice(0, 70), "job-85"]);
  for (const id of gone) await store.delete(id);
  const kept = all.filter((placed) => !gone.has(placed.jobId));
  assert.deepEqual(await store.eventsSince("0", 1_000), kept);
  assert.deepEqual(
    await store.eventsSince("230", 4),
    kept.filter((p) => +p.position > 230).slice(0, 4),
  );
  assert.equal(await store.headPosition(), "300");
  // A late write to an evicted job (dropped after the last cut) is new; its old events stay gone.
  await store.append("job-65", { id: 4, type: "cancelled", data: {} });
  assert.deepEqual((await store.eventsSince("0", 1_000)).filter((p) => p.jobId === "job-65"), [
    { jobId: "job-65", event: { id: 4, type: "cancelled", data: {} }, position: "301" },
  ]);
});
