/**
 * Finds the text streams a job's log leaves unfinished, so a run resumed on another instance
 * can tell clients to throw that text away before it streams the call again.
 *
 * @module
 */

import type { JobEvent, StepName } from "./job.ts";

/** A text stream: a step, and the section index for the content step. */
export interface StreamKey {
  step: StepName;
  index?: number;
}

/**
 * The key of a text stream: its step, and the section index for the content step. Deltas of one
 * stream share it; a `reset` voids what was sent under it.
 *
 * @example
 * ```ts
 * import { streamKey } from "./unfinished_text.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(streamKey("content", 2), "content:2");
 * assert.equal(streamKey("style", undefined), "style:");
 * ```
 */
export function streamKey(step: unknown, index: unknown): string {
  return `${step}:${index ?? ""}`;
}

/**
 * The streams that sent text after their last `reset` and were never completed by the progress
 * event that ends them (the outline, a written section, the finished style).
 *
 * @example
 * ```ts
 * import { interruptedStreams } from "./unfinished_text.ts";
 * import assert from "node:assert/strict";
 *
 * const open = interruptedStreams([
 *   { id: 1, type: "delta", data: { step: "content", index: 0, text: "Tea is" } },
 *   { id: 2, type: "delta", data: { step: "content", index: 1, text: "Why" } },
 *   { id: 3, type: "progress", data: { step: "content", index: 1, progress: 44 } },
 * ]);
 * assert.deepEqual(open, [{ step: "content", index: 0 }]);
 * ```
 */
export function interruptedStreams(events: readonly JobEvent[]): StreamKey[] {
  const open = new Map<string, StreamKey>();
  for (const { type, data } of events) {
    if (type === "delta") {
      const key = streamKey(data.step, data.index);
      if (data.reset === true) open.delete(key);
      else if (data.text !== "") {
        const step = data.step as StepName;
        open.set(key, typeof data.index === "number" ? { step, index: data.index } : { step });
      }
    } else if (type === "progress") {
      const ends = data.step === "content" ||
        data.step === "outline" ||
        (data.step === "style" && data.stage === "finished");
      if (ends) open.delete(streamKey(data.step, data.step === "content" ? data.index : undefined));
    }
  }
  return [...open.values()];
}
