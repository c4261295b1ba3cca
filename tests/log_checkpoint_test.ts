import assert from "node:assert/strict";
import type { JobEvent } from "../src/core/job.ts";
import { restoreFromLog } from "../src/jobs/log_checkpoint.ts";
import { jobRecord } from "../testing/job_records.ts";

const delta = (id: number, index: number, text: string, reset = false): JobEvent => ({
  id,
  type: "delta",
  data: { step: "content", index, text, ...(reset ? { reset } : {}) },
});
const written = (id: number, index: number): JobEvent => ({
  id,
  type: "progress",
  data: { step: "content", progress: 40 + index, index },
});

Deno.test("restoreFromLog keeps only text of the attempt and run that finished a section", () => {
  const record = jobRecord("a", { status: "running" });
  restoreFromLog(record, [
    { id: 1, type: "status", data: { status: "running", progress: 0 } },
    { id: 2, type: "progress", data: { step: "outline", progress: 33, sections: ["A", "B", "C"] } },
    delta(3, 0, "first attempt, "),
    delta(4, 0, "", true), // the call was retried
    delta(5, 0, "  A for real. "),
    written(6, 0),
    delta(7, 1, "half of B from the run that died"),
    { id: 8, type: "status", data: { status: "queued", progress: 44, resumed: true } },
    { id: 9, type: "status", data: { status: "running", progress: 44 } },
    delta(10, 2, "C in full."),
    written(11, 2),
    delta(12, 1, "B, "),
  ]);
  assert.deepEqual(record.checkpoint, {
    sections: ["A", "B", "C"],
    contents: ["A for real.", null, "C in full."],
  });
  assert.deepEqual(record.sections, ["A", "B", "C"]);
  assert.equal(record.lastEventId, 12);
  assert.equal(record.progress, 44);
  assert.equal(record.step, "content");
});

Deno.test("restoreFromLog keeps a record's checkpoint that the log does not contradict", () => {
  const record = jobRecord("b", {
    status: "running",
    progress: 50,
    lastEventId: 9,
    checkpoint: { sections: ["A", "B"], contents: ["A.", null] },
  });
  // A section whose deltas are missing is left to be written again, never kept empty.
  restoreFromLog(record, [written(10, 1)]);
  assert.deepEqual(record.checkpoint, { sections: ["A", "B"], contents: ["A.", null] });
  assert.equal(record.lastEventId, 10);
  assert.equal(record.progress, 50);
});
