/**
 * `deno bench` for the in-memory event log: appending a job's events, and the replays a
 * subscriber asks for (a whole short log, and a page from the middle of a long one).
 *
 * Run: `deno bench bench/job_store_bench.ts`
 *
 * @module
 */

import { MemoryJobStore } from "../src/store/memory_job_store.ts";
import type { JobEvent } from "../src/core/job.ts";

const event = (id: number): JobEvent => ({ id, type: "delta", data: { text: "a few words " } });

Deno.bench("append: one job's 15 events", { group: "append", baseline: true }, async () => {
  const store = new MemoryJobStore();
  for (let id = 1; id <= 15; id++) await store.append("job", event(id));
});

Deno.bench("append: 1,000 events", { group: "append" }, async () => {
  const store = new MemoryJobStore();
  for (let id = 1; id <= 1_000; id++) await store.append("job", event(id));
});

const short = new MemoryJobStore();
for (let id = 1; id <= 15; id++) await short.append("job", event(id));
const long = new MemoryJobStore();
for (let id = 1; id <= 10_000; id++) await long.append("job", event(id));

Deno.bench("events: replay a 15-event log", { group: "replay", baseline: true }, async () => {
  await short.events("job", 0, 64);
});

Deno.bench("events: 64 from the middle of 10,000", { group: "replay" }, async () => {
  await long.events("job", 5_000, 64);
});

Deno.bench("events: caught up (nothing new)", { group: "replay" }, async () => {
  await short.events("job", 15, 64);
});
