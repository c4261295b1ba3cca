/**
 * Following one job's event log to its end as a promise, for callers that wait for a result
 * rather than relay a stream. It goes through the job manager's subscription, so it sees the
 * same log the event streams do, whichever instance runs the job and whatever the store.
 *
 * @module
 */

import { type JobEvent, type JobRecord, TERMINAL_EVENTS } from "../core/job.ts";
import { type FeedItem, isSignal } from "../jobs/job_feed.ts";
import type { JobManager } from "../jobs/job_manager.ts";

/** What {@linkcode followJob} needs of a job manager. */
export type JobSubscriber = Pick<JobManager, "subscribe">;

/** Options of {@linkcode followJob}. */
export interface FollowOptions {
  /** Called with each event of the log, in order, the terminal one included; errors are ignored. */
  onEvent?: (event: JobEvent) => void | Promise<void>;
  /** Stops following (the job goes on); the promise then resolves with `undefined`. */
  signal?: AbortSignal;
}

// Progress events are few, but text deltas come many at a time: room for a burst of them.
const BUFFERED_ITEMS = 64;

/**
 * Follows job `record` from its first event and resolves with its terminal event (`complete`,
 * `error` or `cancelled`), or with `undefined` when the log ended without one (the service
 * shutting down, or `signal` aborted).
 *
 * @example
 * ```ts
 * import { followJob } from "./follow_job.ts";
 * import { JobManager } from "../jobs/job_manager.ts";
 * import { MemoryJobStore } from "../store/memory_job_store.ts";
 * import { OfflineWriter } from "../llm/offline_writer.ts";
 * import assert from "node:assert/strict";
 *
 * const manager = new JobManager({ store: new MemoryJobStore(), llm: new OfflineWriter({ delayMs: 0 }) });
 * const types: string[] = [];
 * const end = await followJob(manager, await manager.submit("tea"), {
 *   onEvent: (event) => void types.push(event.type),
 * });
 * assert.equal(end?.type, "complete");
 * assert.equal(types[0], "status");
 * await manager.close();
 * ```
 */
export function followJob(
  jobs: JobSubscriber,
  record: JobRecord,
  options: FollowOptions = {},
): Promise<JobEvent | undefined> {
  const { promise, resolve, reject } = Promise.withResolvers<JobEvent | undefined>();
  let last: JobEvent | undefined;
  const sink = new WritableStream<FeedItem>({
    async write(item) {
      if (isSignal(item)) return;
      last = item;
      try {
        await options.onEvent?.(item);
      } catch {
        // A listener's trouble (a notification that could not be sent) must not end the follow.
      }
    },
    // Closed after the terminal event, or by a shutdown before it.
    close: () => resolve(last && TERMINAL_EVENTS.has(last.type) ? last : undefined),
    abort: () => resolve(undefined),
  }, new CountQueuingStrategy({ highWaterMark: BUFFERED_ITEMS }));
  const writer = sink.getWriter();
  const stop = () => writer.abort(options.signal?.reason).catch(() => {});
  if (options.signal?.aborted) {
    stop();
    return promise;
  }
  options.signal?.addEventListener("abort", stop, { once: true });
  promise.finally(() => options.signal?.removeEventListener("abort", stop)).catch(() => {});
  try {
    jobs.subscribe(record, 0, {
      writer,
      abort: (reason) => void writer.abort(reason).catch(() => {}),
    });
  } catch (error) {
    reject(error);
  }
  return promise;
}
