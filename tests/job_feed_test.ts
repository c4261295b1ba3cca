import assert from "node:assert/strict";
import type { FeedItem } from "../src/jobs/job_feed.ts";
import { JobManager } from "../src/jobs/job_manager.ts";
import { MemoryJobStore } from "../src/store/memory_job_store.ts";
import { OfflineWriter } from "../src/llm/offline_writer.ts";

Deno.test("JobFeed delivers a job's last events to a live subscriber", async () => {
  // The style step's `finished` progress and `complete` are emitted back to back, while the
  // subscriber's drain is winding down: a lost wake-up there left streams hanging at 99%.
  const manager = new JobManager({
    store: new MemoryJobStore(),
    llm: new OfflineWriter({ delayMs: 60 }),
  });
  try {
    const runs = ["tea", "coffee", "cocoa"].map(async (topic) => {
      const record = await manager.submit(topic);
      const stream = new TransformStream<FeedItem, FeedItem>(
        {},
        new CountQueuingStrategy({ highWaterMark: 64 }),
      );
      manager.subscribe(record, 0, {
        writer: stream.writable.getWriter(),
        abort: () => stream.readable.cancel().catch(() => {}),
      });
      const types: string[] = [];
      for await (const item of stream.readable) if ("type" in item) types.push(item.type);
      return { types, lastEventId: record.lastEventId };
    });
    const timeout = Promise.withResolvers<never>();
    const timer = setTimeout(() => timeout.reject(new Error("a stream never ended")), 5_000);
    try {
      for (
        const { types, lastEventId } of await Promise.race([Promise.all(runs), timeout.promise])
      ) {
        assert.equal(types.at(-1), "complete");
        assert.equal(types.length, lastEventId);
      }
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await manager.close();
  }
});
