import assert from "node:assert/strict";
import { JobFeed } from "../src/jobs/job_feed.ts";
import { MemoryJobStore } from "../src/store/memory_job_store.ts";
import { SseStream } from "../src/http/sse_encoder.ts";
import type { FeedItem } from "../src/jobs/job_feed.ts";
import type { LlmClient } from "../src/llm/llm_client.ts";
import { collectEvents, readSse, type SseEvent } from "../testing/sse_client.ts";
import { startTestServer, submit, waitFor } from "./_server.ts";

const key = (e: SseEvent) => `${e.id}|${e.event}|${e.data}`;

async function openStreams(url: string): Promise<number> {
  const text = await (await fetch(url)).text();
  const match = /^quillflow_sse_streams_open (\d+)$/m.exec(text);
  return Number(match?.[1]);
}

Deno.test("resume: Last-Event-ID gives exactly the events after it, then live ones", async (t) => {
  const server = await startTestServer(["--offline-delay-ms", "30"]);
  try {
    const job = await submit(server.url, "Resumable streams");
    const events = `${server.url}/api/jobs/${job.id}/events`;
    // Read the first few events live, then drop the connection mid-job.
    const controller = new AbortController();
    const first = await fetch(events, { signal: controller.signal });
    const seen: SseEvent[] = [];
    for await (const event of readSse(first.body!)) {
      if (event.comment !== undefined) continue;
      seen.push(event);
      if (seen.length === 4) break;
    }
    controller.abort();
    const lastId = seen.at(-1)!.id;

    await t.step("header: no gap, no duplicate", async () => {
      const rest = await collectEvents(events, { headers: { "last-event-id": lastId } });
      const whole = [...seen, ...rest];
      whole.forEach((e, i) => assert.equal(e.id, String(i + 1)));
      assert.equal(whole.at(-1)?.event, "complete");
      const full = await collectEvents(events);
      assert.deepEqual(whole.map(key), full.map(key));
    });
    await t.step("query parameter works the same, and the header wins over it", async () => {
      const byQuery = await collectEvents(`${events}?lastEventId=${lastId}`);
      assert.equal(byQuery[0]?.id, String(Number(lastId) + 1));
      const both = await collectEvents(`${events}?lastEventId=1`, {
        headers: { "last-event-id": "6" },
      });
      assert.equal(both[0]?.id, "7");
    });
    await t.step("resuming after the last event ends the stream at once with nothing", async () => {
      const read = await (await fetch(`${server.url}/api/jobs/${job.id}`)).json();
      const none = await collectEvents(events, {
        headers: { "last-event-id": String(read.lastEventId) },
      });
      assert.deepEqual(none, []);
    });
    await t.step("an id the job never had is a 400, not a silent replay", async () => {
      for (const bad of ["9999", "-1", "abc", "1.5", "1e3"]) {
        const res = await fetch(events, { headers: { "last-event-id": bad } });
        assert.equal(res.status, 400, bad);
        assert.equal((await res.json()).error.code, "invalid_last_event_id");
      }
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("many watchers of one job each get every event once, in order", async () => {
  const server = await startTestServer(["--offline-delay-ms", "20"]);
  try {
    const job = await submit(server.url, "Many watchers");
    const url = `${server.url}/api/jobs/${job.id}/events`;
    // Watchers join at different moments: some before, some during the job.
    const watchers: Promise<SseEvent[]>[] = [];
    for (let i = 0; i < 20; i++) {
      watchers.push(collectEvents(url));
      if (i % 5 === 4) await new Promise((resolve) => setTimeout(resolve, 15));
    }
    const results = await Promise.all(watchers);
    const reference = results[0]!.map(key);
    assert.equal(results[0]!.at(-1)?.event, "complete");
    for (const events of results) assert.deepEqual(events.map(key), reference);
  } finally {
    await server.shutdown();
  }
});

Deno.test("idle streams get a heartbeat comment every HEARTBEAT_MS", async () => {
  // A long offline delay keeps the job quiet between events.
  const server = await startTestServer(["--offline-delay-ms", "600", "--heartbeat-ms", "50"]);
  try {
    const job = await submit(server.url, "Heartbeats");
    const controller = new AbortController();
    const response = await fetch(`${server.url}/api/jobs/${job.id}/events`, {
      signal: controller.signal,
    });
    let pings = 0;
    for await (const event of readSse(response.body!)) {
      if (event.comment === "ping") pings++;
      if (pings === 3) break;
    }
    controller.abort();
    assert.equal(pings, 3);
    await server.manager.cancel(job.id);
  } finally {
    await server.shutdown();
  }
});

Deno.test("1,000 clients that abort at random points leave no subscription behind", async () => {
  const server = await startTestServer([
    "--offline-delay-ms",
    "40",
    "--max-concurrent-jobs",
    "10",
  ]);
  try {
    const jobs = await Promise.all(
      Array.from({ length: 10 }, (_, i) => submit(server.url, `Disconnect ${i}`)),
    );
    // Every client ends one of three ways; anything else (an error status, a failed connection,
    // a broken stream before its abort) is a failure, not noise.
    const outcomes = { aborted: 0, ended: 0, cancelled: 0 };
    const unexpected: string[] = [];
    const clients = Array.from({ length: 1_000 }, async (_, i) => {
      const job = jobs[i % jobs.length]!;
      const controller = new AbortController();
      const abortAfter = Math.floor(Math.random() * 300);
      const timer = setTimeout(() => controller.abort(), abortAfter);
      try {
        const response = await fetch(`${server.url}/api/jobs/${job.id}/events`, {
          signal: controller.signal,
        });
        if (response.status !== 200) {
          unexpected.push(`client ${i}: status ${response.status}: ${await response.text()}`);
          return;
        }
        // Some read a little, some read nothing before they go.
        if (i % 2 === 0) {
          for await (const _ of readSse(response.body!)) {
            /* read until aborted */
          }
          outcomes.ended++; // the job ended before the abort
        } else {
          await response.body?.cancel();
          outcomes.cancelled++;
        }
      } catch (error) {
        if (
          controller.signal.aborted && error instanceof DOMException && error.name === "AbortError"
        ) {
          outcomes.aborted++;
        } else unexpected.push(`client ${i}: ${error}`);
      } finally {
        clearTimeout(timer);
      }
    });
    await Promise.all(clients);
    assert.deepEqual(unexpected, [], `${unexpected.length} clients failed`);
    assert.equal(outcomes.aborted + outcomes.ended + outcomes.cancelled, 1_000);
    assert.ok(outcomes.aborted > 0, `some clients aborted mid-stream: ${JSON.stringify(outcomes)}`);
    // Every job still completes.
    for (const job of jobs) {
      const events = await collectEvents(`${server.url}/api/jobs/${job.id}/events`);
      assert.equal(events.at(-1)?.event, "complete");
    }
    assert.deepEqual(await (await fetch(`${server.url}/healthz`)).json(), { status: "ok" });
    await waitFor(
      async () => await openStreams(`${server.url}/metrics`) === 0,
      10_000,
      "streams to close",
    );
    assert.equal(server.manager.stats().streams, 0);
  } finally {
    await server.shutdown();
  }
});

Deno.test("a client that never reads stalls nothing and is dropped", async (t) => {
  await t.step(
    "in process: the writer's buffer stays bounded and the stalled writer is aborted",
    async () => {
      const store = new MemoryJobStore();
      const feed = new JobFeed({ store, heartbeatMs: 1_000, stallMs: 100 });
      let framed = 0;
      const stream = new SseStream<FeedItem>(() => (framed++, new Uint8Array(10_000)), {
        highWaterMark: 4,
      });
      const writer = stream.writable.getWriter();
      feed.subscribe("job", 0, { writer, abort: (reason) => stream.abort(reason) });
      const big = "x".repeat(10_000);
      for (let id = 1; id <= 1_000; id++) {
        await store.append("job", { id, type: "delta", data: { step: "content", text: big } });
        feed.notify("job");
      }
      // The producer never waited on the reader: 1,000 events were appended at once, but the
      // writer holds at most its high-water mark.
      assert.ok((writer.desiredSize ?? 0) >= 0 || writer.desiredSize === null);
      // Framed so far: one batch of at most the high-water mark (now an unread chunk) and at most
      // one more; the rest of the 1,000 wait in the log, not in memory.
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.ok(framed <= 2 * 4, `framed ${framed}`);
      assert.equal(feed.size, 1);
      await waitFor(() => feed.size === 0, 2_000, "the stalled subscriber to be dropped");
      assert.equal(feed.stalledDrops, 1);
      await stream.readable.cancel().catch(() => {});
      // The feed read only what fit: the cursor stopped near the high-water mark, not at 1,000.
    },
  );

  await t.step(
    "over TCP: a client that stops reading is dropped; the job and other watchers go on",
    async () => {
      // Sections of 4 MB streamed in small pieces: far more than the kernel's socket buffers, so
      // a client that never reads really does stop taking bytes. (Deno's fetch would buffer them.)
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
      const server = await startTestServer(["--sse-client-buffer", "4", "--sse-stall-ms", "300"], {
        llm,
      });
      try {
        const job = await submit(server.url, "Slow reader");
        const { port } = new URL(server.url);
        const stuck = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
        await stuck.write(
          new TextEncoder().encode(`GET /api/jobs/${job.id}/events HTTP/1.1\r\nHost: x\r\n\r\n`),
        );
        // `stuck` is never read from.
        const healthy = await collectEvents(`${server.url}/api/jobs/${job.id}/events`);
        assert.equal(healthy.at(-1)?.event, "complete");
        assert.ok(healthy.length > 1_000, `${healthy.length} events`);
        const read = await (await fetch(`${server.url}/api/jobs/${job.id}`)).json();
        assert.equal(read.status, "completed");
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
    },
  );
});
