/**
 * What an MCP progress notification says for an event of a job's log: the percentage and a
 * short line naming the step, for a client to show while `write_article` runs.
 *
 * @module
 */

import type { JobEvent } from "../core/job.ts";

/** The `progress` (0–100, of a `total` of 100) and `message` of a notification. */
export interface ProgressNotice {
  /** Percent done. */
  progress: number;
  /** The step, in words. */
  message: string;
}

/**
 * The notice for `event`, or `undefined` for events that say nothing of progress (text deltas).
 *
 * @example
 * ```ts
 * import { progressNotice } from "./progress_notice.ts";
 * import assert from "node:assert/strict";
 *
 * const notice = progressNotice({
 *   id: 5,
 *   type: "progress",
 *   data: { step: "content", progress: 55, completed: 2, total: 3 },
 * });
 * assert.deepEqual(notice, { progress: 55, message: "content: 2/3 sections written" });
 * ```
 */
export function progressNotice(event: JobEvent): ProgressNotice | undefined {
  const data = event.data;
  const progress = Number(data.progress ?? 0);
  switch (event.type) {
    case "status":
      return data.status === "running"
        ? { progress, message: "outline: planning" }
        : { progress, message: "queued" };
    case "progress":
      if (data.step === "outline") {
        const count = Array.isArray(data.sections) ? data.sections.length : 0;
        return { progress, message: `outline: ${count} sections planned` };
      }
      if (data.step === "content") {
        return { progress, message: `content: ${data.completed}/${data.total} sections written` };
      }
      return {
        progress,
        message: data.stage === "finished" ? "style: done" : "style: polishing",
      };
    case "complete":
      return { progress: 100, message: "done" };
    default:
      return undefined;
  }
}
