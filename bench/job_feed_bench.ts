/**
 * `deno bench` for the fan-out: one event appended and delivered, through `JobFeed` and each
 * subscriber's SSE stream, to 1, 100, 1,000 and 5,000 subscribers whose readers keep up.
 *
 * Run: `deno bench bench/job_feed_bench.ts`
 *
 * @module
 */

import { type FeedItem, JobFeed } from "../src/jobs/job_feed.ts";
import { MemoryJobStore } from "../src/store/memory_job_store.ts";
import { encodeNative } from "../src/http/event_stream_response.ts";
import { SseStream } from "../src/http/sse_encoder.ts";

interface Fixture {
  store: MemoryJobStore;
  feed: JobFeed;
  readers: ReadableStreamDefaultReader<Uint8Array>[];
  nextId: number;
}

async function fixture(subscribers: number): Promise<Fixture> {
  const store = new MemoryJobStore();
  const feed = new JobFeed({ store, heartbeatMs: 3_600_000, stallMs: 3_600_000 });
  await store.append("job", { id: 1, type: "status", data: { status: "running" } });
  const readers: ReadableStreamDefaultReader<Uint8Array>[] = [];
  for (let i = 0; i < subscribers; i++) {
    const stream = new SseStream<FeedItem>(encodeNative, { highWaterMark: 64 });
    feed.subscribe("job", 0, {
      writer: stream.writable.getWriter(),
      abort: (reason) => stream.abort(reason),
    });
    const reader = stream.readable.getReader();
    await reader.read(); // event 1
    readers.push(reader);
  }
  return { store, feed, readers, nextId: 2 };
}

async function deliverOne(f: Fixture): Promise<void> {
  await f.store.append("job", {
    id: f.nextId++,
    type: "progress",
    data: { step: "content", progress: 44 },
  });
  f.feed.notify("job");
  await Promise.all(f.readers.map((r) => r.read()));
}

for (const n of [1, 100, 1_000, 5_000]) {
  const f = await fixture(n);
  Deno.bench(`notify → ${n} subscriber(s) read the event`, {
    group: "fan-out",
    baseline: n === 1,
  }, async () => {
    await deliverOne(f);
  });
}
