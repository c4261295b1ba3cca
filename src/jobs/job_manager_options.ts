/**
 * The settings of the job core's facade, `JobManager`: its collaborators (store, LLM,
 * dispatcher, clock, logger), its bounds and timings, and the hook told of each job's end.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";
import type { JobRecord } from "../core/job.ts";
import type { JobStore } from "../core/job_store.ts";
import type { Logger } from "../core/logger.ts";
import type { LlmClient } from "../llm/llm_client.ts";
import type { LlmPrices } from "../llm/llm_prices.ts";
import type { ArticleFlowOptions } from "../workflow/article_flow.ts";
import type { JobDispatcher } from "./job_dispatcher.ts";

/** Settings of a `JobManager`. */
export interface JobManagerOptions {
  /** Records and event logs. */
  store: JobStore;
  /** Who writes the text. */
  llm: LlmClient;
  /** Time source. */
  clock?: Clock;
  /** Structured logs. */
  logger?: Logger;
  /** Jobs running at once, for the default dispatcher. Default 4. */
  maxConcurrentJobs?: number;
  /**
   * Jobs waiting beyond those running, for the default dispatcher: a submit is refused when
   * every running slot is busy and this many wait (0: no waiting line). Default 100.
   */
  maxQueuedJobs?: number;
  /** How long a finished job is kept, in ms. Default one hour. */
  jobTtlMs?: number;
  /** Finished jobs kept at most; the oldest go first. Default 10 000. */
  maxRetainedJobs?: number;
  /** Heartbeat interval of idle streams, in ms. Default 15 000. */
  heartbeatMs?: number;
  /** A stream whose reader takes nothing for this long is dropped, in ms. Default 30 000. */
  stallMs?: number;
  /** Streamed text is gathered for this long into one `delta` event, in ms. Default 50. */
  deltaFlushMs?: number;
  /** Settings of the article workflow. */
  flow?: ArticleFlowOptions;
  /**
   * A running job the process stopped under this many times is failed by `recover` instead of
   * run again: it may be what stops the process. Default 3.
   */
  maxResumes?: number;
  /**
   * Decides admission and which process runs each job; by default a `LocalDispatcher`
   * runs them here, FIFO, under `maxConcurrentJobs` and `maxQueuedJobs`.
   */
  dispatcher?: JobDispatcher;
  /** Prices per model, for each job's `costUsd`; a model not listed has an unknown cost. */
  llmPrices?: LlmPrices;
  /**
   * Told of each job's end, with its final record, in the same turn as the write of that end:
   * what it writes to a store that groups writes goes in the same transaction (webhooks).
   */
  onEnd?: (record: JobRecord) => void;
}
