import assert from "node:assert/strict";
import type { JobEvent } from "../src/core/job.ts";
import { WrittenEvents } from "../src/store/written_events.ts";

function events(from: number, count: number): JobEvent[] {
  return Array.from({ length: count }, (_, i) => ({ id: from + i, type: "status", data: {} }));
}

Deno.test("WrittenEvents keeps every job's order with its positions, past the window it keeps", () => {
  const written = new WrittenEvents();
  // A store reopened on a file whose newest position is 500.
  let seq = 500;
  for (let batch = 0; batch < 1_000; batch++) {
    seq = written.add(`job-${batch % 7}`, events(Math.floor(batch / 7) * 10 + 1, 10), seq);
  }
  assert.equal(seq, 10_500);
  assert.equal(written.since(500, 10, () => false), undefined, "the oldest are no longer kept");
  const newest = written.since(10_490, 100, () => false);
  assert.deepEqual(newest?.map((p) => p.position), events(10_491, 10).map((e) => String(e.id)));
  assert.ok(newest?.every((p) => p.jobId === "job-5"));
  // At least the newest 4,096 are kept, each at its own position.
  const kept = written.since(10_500 - 4_096, 100_000, () => false);
  assert.deepEqual(
    kept?.map((p) => +p.position),
    Array.from({ length: 4_096 }, (_, i) => 10_500 - 4_096 + 1 + i),
  );
  written.forget("job-5");
  assert.deepEqual(written.since(10_480, 100, () => false)?.map((p) => p.jobId), [
    ...Array(10).fill("job-4"),
  ]);
  assert.deepEqual(written.since(10_470, 100, (id) => id === "job-4")?.map((p) => p.jobId), [
    ...Array(10).fill("job-3"),
  ]);
});
