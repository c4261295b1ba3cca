/**
 * Rebuilds what an interrupted job had done from its event log. The log is the truth: the durable
 * store writes a running job's record again only when its status changes, so after a crash the
 * record may be behind the log, and the outline and written sections are read back from the
 * events that streamed them.
 *
 * @module
 */

import { streamKey } from "../core/unfinished_text.ts";
import type { JobEvent, JobRecord, StepName } from "../core/job.ts";
import { restoreUsage } from "./job_usage.ts";

const STEPS: ReadonlySet<unknown> = new Set(["outline", "content", "style"]);

/**
 * Brings `record` up to date with `events`, its whole log in id order: `lastEventId`, `progress`,
 * `step`, `sections`, and a checkpoint holding the outline and each section whose `progress`
 * event was logged, its text taken from the deltas that streamed it, and the accounting of the
 * newest `usage` event. A `status` event starts a new run, so text an earlier run left
 * unfinished is never joined to the next run's.
 *
 * @example
 * ```ts
 * import { restoreFromLog } from "./log_checkpoint.ts";
 * import type { JobRecord } from "../core/job.ts";
 * import assert from "node:assert/strict";
 *
 * const record: JobRecord = {
 *   id: "a", topic: "tea", status: "running", progress: 0, step: null,
 *   provider: "offline", model: null, createdAt: 0, lastEventId: 2,
 * };
 * restoreFromLog(record, [
 *   { id: 1, type: "status", data: { status: "queued", progress: 0 } },
 *   { id: 2, type: "status", data: { status: "running", progress: 0 } },
 *   { id: 3, type: "progress", data: { step: "outline", progress: 33, sections: ["A", "B"] } },
 *   { id: 4, type: "delta", data: { step: "content", index: 1, text: "B is " } },
 *   { id: 5, type: "delta", data: { step: "content", index: 0, text: "half" } },
 *   { id: 6, type: "delta", data: { step: "content", index: 1, text: "done. " } },
 *   { id: 7, type: "progress", data: { step: "content", progress: 49, index: 1 } },
 * ]);
 * assert.equal(record.lastEventId, 7);
 * assert.equal(record.progress, 49);
 * assert.deepEqual(record.checkpoint, { sections: ["A", "B"], contents: [null, "B is done."] });
 * ```
 */
export function restoreFromLog(record: JobRecord, events: readonly JobEvent[]): void {
  let sections = record.checkpoint?.sections ?? record.sections;
  let contents = record.checkpoint?.contents ? [...record.checkpoint.contents] : undefined;
  /** Text streamed since its stream last started, by step and section. */
  const open = new Map<string, string>();
  for (const { id, type, data } of events) {
    record.lastEventId = Math.max(record.lastEventId, id);
    if (typeof data.progress === "number" && type !== "complete") {
      record.progress = Math.max(record.progress, data.progress);
    }
    // A `usage` event names the step that finished, not the one that runs.
    if (STEPS.has(data.step) && type !== "usage") record.step = data.step as StepName;
    if (type === "status") {
      open.clear();
    } else if (type === "delta") {
      const key = streamKey(data.step, data.index);
      if (data.reset === true) open.delete(key);
      else open.set(key, (open.get(key) ?? "") + String(data.text ?? ""));
    } else if (type === "progress" && data.step === "outline" && Array.isArray(data.sections)) {
      sections = data.sections.map(String);
      contents = sections.map(() => null);
    } else if (type === "progress" && data.step === "content" && typeof data.index === "number") {
      const key = streamKey(data.step, data.index);
      const text = (open.get(key) ?? "").trim();
      open.delete(key);
      // A section whose text is missing is written again rather than left empty.
      if (contents && data.index < contents.length && text !== "") contents[data.index] = text;
    }
  }
  if (sections) {
    record.sections = sections;
    record.checkpoint = { sections, ...(contents ? { contents } : {}) };
  }
  restoreUsage(record, events);
}
