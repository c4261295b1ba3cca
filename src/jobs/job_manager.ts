/**
 * The job core's facade: submit, look up, cancel, follow and stop jobs. It composes the parts,
 * each in its own module: the dispatcher (admission, the waiting line, who runs a job), the
 * runner (the workflow, the job's log), the feed (subscribers), retention and recovery. Knows
 * nothing of HTTP or SSE framing, nor of which dispatcher or store it is given.
 *
 * @module
 */

import { type Clock, systemClock } from "../core/clock.ts";
import { describeError } from "../core/describe_error.ts";
import { FINISHED_STATUSES, type JobRecord } from "../core/job.ts";
import { newJobId } from "../core/job_id.ts";
import type { JobStore } from "../core/job_store.ts";
import { type Logger, silentLogger } from "../core/logger.ts";
import { ReleasingMap } from "../core/releasing_map.ts";
import { StoreUnavailableError } from "../core/store_unavailable_error.ts";
import type { LlmClient } from "../llm/llm_client.ts";
import { ArticleRunner } from "./article_runner.ts";
import type { JobDispatcher } from "./job_dispatcher.ts";
import type { JobManagerOptions } from "./job_manager_options.ts";
import { JobFinishedError, ShuttingDownError } from "./job_errors.ts";
import { type FeedSink, JobFeed, type JobsFeedItem } from "./job_feed.ts";
import type { JobLog } from "./job_log.ts";
import { recoverJobs, type RecoveryReport } from "./job_recovery.ts";
import { LocalDispatcher } from "./local_dispatcher.ts";
import { Retention } from "./retention.ts";
import { StatusCounts } from "./status_counts.ts";

export { QueueFullError } from "./admission.ts";
export { JobFinishedError, ShuttingDownError } from "./job_errors.ts";
export type { ExecuteOptions, JobDispatcher } from "./job_dispatcher.ts";
export type { RecoveryReport } from "./job_recovery.ts";
export type { JobManagerOptions } from "./job_manager_options.ts";

/** Options of {@linkcode JobManager.submit}. */
export interface SubmitOptions {
  /** The new job's id, chosen before the submit (an idempotency key names it); a new one else. */
  id?: string;
  /** The job's own webhook URL, already checked; kept with the job, told of its end. */
  webhook?: string;
}

/** Owns this process's view of jobs: submit, get, list, cancel, subscribe, shut down. */
export class JobManager {
  readonly #store: JobStore;
  readonly #llm: LlmClient;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #maxResumes: number;
  readonly #dispatcher: JobDispatcher;
  readonly #runner: ArticleRunner;
  readonly #feed: JobFeed;
  readonly #retention: Retention;
  readonly #counts = new StatusCounts();
  /** Jobs submitted here whose first write is not done: not accepted yet. */
  readonly #accepting = new ReleasingMap<string, JobLog>();
  #closing = false;
  #stopping: Promise<void> | undefined;
  /**
   * Submits still writing their job, told when shutdown begins so they give up then. Each
   * submit waits on a promise of its own: a `then` on one promise that settles only at shutdown
   * would keep a reaction per job for the life of the process. By job id.
   */
  readonly #writing = new ReleasingMap<string, (closing: "closing") => void>();

  /** Creates a manager; nothing runs until `submit` (or `recover`). */
  constructor(options: JobManagerOptions) {
    this.#store = options.store;
    this.#llm = options.llm;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#maxResumes = options.maxResumes ?? 3;
    this.#dispatcher = options.dispatcher ?? new LocalDispatcher({
      running: options.maxConcurrentJobs ?? 4,
      waiting: options.maxQueuedJobs ?? 100,
      durable: this.#store.durable,
    });
    this.#retention = new Retention({
      ttlMs: options.jobTtlMs ?? 3_600_000,
      maxRetained: options.maxRetainedJobs ?? 10_000,
      clock: this.#clock,
      evict: (id) => this.#evict(id),
    });
    this.#runner = new ArticleRunner({
      store: this.#store,
      llm: this.#llm,
      policy: this.#dispatcher.policy,
      counts: this.#counts,
      onFinished: (record) => this.#retention.add(record.id, record.finishedAt ?? 0),
      clock: this.#clock,
      logger: this.#logger,
      ...(options.flow ? { flow: options.flow } : {}),
      ...(options.llmPrices ? { llmPrices: options.llmPrices } : {}),
      ...(options.deltaFlushMs !== undefined ? { deltaFlushMs: options.deltaFlushMs } : {}),
      ...(options.onEnd ? { onEnd: options.onEnd } : {}),
    });
    this.#dispatcher.attach(this.#runner);
    this.#feed = new JobFeed({
      store: this.#store,
      heartbeatMs: options.heartbeatMs ?? 15_000,
      stallMs: options.stallMs ?? 30_000,
      clock: this.#clock,
    });
  }

  /** The provider and model jobs are written with. */
  get llm(): { provider: string; model: string | null } {
    return { provider: this.#llm.provider, model: this.#llm.model };
  }

  /** Live figures for health checks and metrics. */
  stats(): {
    running: number;
    queued: number;
    streams: number;
    itemsWritten: number;
    stalledDrops: number;
    jobsByStatus: Record<string, number>;
  } {
    return {
      running: this.#runner.running,
      queued: this.#dispatcher.waiting,
      streams: this.#feed.size,
      itemsWritten: this.#feed.itemsWritten,
      stalledDrops: this.#feed.stalledDrops,
      jobsByStatus: this.#counts.toJSON(),
    };
  }

  /**
   * Accepts a job for `topic` (already validated) and returns its record once the job and its
   * `queued` event are stored. Throws `QueueFullError` when every running slot is busy and the
   * waiting line is full, {@linkcode ShuttingDownError} once shutdown has begun (a job still
   * being written then is dropped), and {@linkcode StoreUnavailableError} when the first write
   * fails. A refused job leaves no trace.
   */
  async submit(topic: string, options: SubmitOptions = {}): Promise<JobRecord> {
    if (this.#closing) throw new ShuttingDownError();
    const createdAt = this.#clock.now();
    const record: JobRecord = {
      id: options.id ?? newJobId(createdAt),
      topic,
      status: "queued",
      progress: 0,
      step: null,
      provider: this.#llm.provider,
      model: this.#llm.model,
      createdAt,
      lastEventId: 0,
      ...(options.webhook === undefined ? {} : { webhook: options.webhook }),
    };
    // Called before any await: an in-process dispatcher takes the place in this very turn.
    await this.#dispatcher.admit(record.id);
    if (this.#closing) {
      this.#dispatcher.withdraw(record.id);
      throw new ShuttingDownError();
    }
    const log = this.#runner.logOf(record);
    this.#accepting.set(record.id, log);
    this.#counts.move(undefined, "queued");
    const outcome = await this.#firstWrite(log);
    this.#accepting.delete(record.id);
    if (outcome !== "written") {
      this.#abandon(log);
      throw outcome === "closing" ? new ShuttingDownError() : outcome;
    }
    if (log.finished) {
      // Cancelled while it was being written: it ends there, without running.
      this.#dispatcher.withdraw(record.id);
      return record;
    }
    this.#logger.log("info", "job queued", { job: record.id });
    let line: "here" | "shared";
    try {
      line = await this.#dispatcher.enqueue(record);
    } catch (error) {
      this.#counts.move(record.status, undefined);
      await this.#store.delete(record.id).catch(() => {});
      throw error;
    }
    // Whoever takes it from a shared line counts it and continues its log.
    if (line === "shared") this.#counts.move("queued", undefined);
    return record;
  }

  /**
   * Writes a new job's record and its `queued` event: `written`, or `closing` when shutdown
   * began first, or the error that stopped the write.
   */
  async #firstWrite(log: JobLog): Promise<"written" | "closing" | StoreUnavailableError> {
    const closing = Promise.withResolvers<"closing">();
    this.#writing.set(log.record.id, closing.resolve);
    if (this.#closing) closing.resolve("closing");
    try {
      return await Promise.race([log.create().then(() => "written" as const), closing.promise]);
    } catch (error) {
      this.#logger.log("warn", "job refused: not stored", {
        job: log.record.id,
        error: describeError(error),
      });
      return error instanceof StoreUnavailableError
        ? error
        : new StoreUnavailableError("The job store", { problem: "failed", cause: error });
    } finally {
      this.#writing.delete(log.record.id);
    }
  }

  /** Drops a job that was never accepted: no place, no count, no record left behind. */
  #abandon(log: JobLog): void {
    const id = log.record.id;
    this.#counts.move(log.record.status, undefined);
    this.#retention.remove(id);
    this.#dispatcher.withdraw(id);
    this.#store.delete(id).catch((error) =>
      this.#logger.log("error", "refused job not deleted", { job: id, error: describeError(error) })
    );
  }

  /**
   * Takes up what a previous process left in a durable store; call once, before serving (see
   * `job_recovery.ts`). Recovered jobs keep their places, even beyond the bound.
   */
  async recover(): Promise<RecoveryReport> {
    const report = await recoverJobs({
      store: this.#store,
      maxRetained: this.#retention.maxRetained,
      maxResumes: this.#maxResumes,
      isKnown: (id) => this.#accepting.has(id) || this.#runner.get(id) !== undefined,
      keepFinished: (record) => {
        this.#counts.move(undefined, record.status);
        this.#retention.add(record.id, record.finishedAt ?? record.createdAt);
      },
      logOf: (record) => {
        this.#counts.move(undefined, record.status);
        return this.#runner.logOf(record);
      },
      fail: (log, message) =>
        this.#runner.finish(log, "failed", {
          message,
          ...(log.record.step ? { step: log.record.step } : {}),
        }),
      voidText: (log, step, index) => this.#runner.voidText(log, step, index),
      requeue: (record) => this.#dispatcher.requeue(record),
    });
    if (report.requeued + report.resumed + report.failed + report.finished > 0) {
      this.#logger.log("info", "jobs recovered", { ...report });
    }
    return report;
  }

  /** The record of job `id`, if kept. */
  async get(id: string): Promise<JobRecord | undefined> {
    // Jobs of this process first: a store read (SQL and JSON for SQLite) is the last resort.
    return this.#runner.get(id) ?? this.#dispatcher.peek(id) ?? this.#accepting.get(id)?.record ??
      await this.#store.get(id);
  }

  /** Up to `limit` jobs, newest first. */
  list(limit: number): Promise<JobRecord[]> {
    return this.#store.list(limit);
  }

  /**
   * Cancels a queued or running job and returns its record (`undefined` if unknown). Throws
   * {@linkcode JobFinishedError} for a finished job.
   */
  async cancel(id: string, reason = "Cancelled by request"): Promise<JobRecord | undefined> {
    const accepting = this.#accepting.get(id);
    if (accepting && !accepting.finished) {
      // Still being written: its submit sees the end and stops there.
      this.#runner.finish(accepting, "cancelled", { reason });
      return accepting.record;
    }
    const running = this.#runner.cancelRun(id, reason);
    if (running) return running;
    const record = await this.get(id);
    if (!record) return undefined;
    if (FINISHED_STATUSES.has(record.status)) throw new JobFinishedError(id, record.status);
    // It may have started here while the store answered.
    return this.#runner.cancelRun(id, reason) ?? await this.#dispatcher.cancel(id, reason) ??
      record;
  }

  /**
   * Streams job `record`'s events with ids above `afterId`, then live ones, into `sink`, whose
   * writer is closed after the terminal event. The caller checks `afterId` is within the log.
   */
  subscribe(record: JobRecord, afterId: number, sink: FeedSink): void {
    if (FINISHED_STATUSES.has(record.status) && afterId >= record.lastEventId) {
      sink.writer.close().catch(() => {});
      return;
    }
    this.#feed.subscribe(record.id, afterId, sink);
  }

  /**
   * Streams the events of several jobs into `sink`: each job's with ids above its `afterId`,
   * then live ones, interleaved; the writer is closed once every job has ended. The caller checks
   * each `afterId` is within its job's log.
   */
  subscribeJobs(
    jobs: readonly { record: JobRecord; afterId: number }[],
    sink: FeedSink<JobsFeedItem>,
  ): void {
    this.#feed.subscribeJobs(
      jobs.map(({ record, afterId }) => ({
        id: record.id,
        afterId,
        finished: FINISHED_STATUSES.has(record.status) && afterId >= record.lastEventId,
      })),
      sink,
    );
  }

  /**
   * Where a stream of every job that starts now begins: the store's newest position in the order
   * of every job's appends.
   */
  eventsHead(): Promise<string> {
    return this.#store.headPosition();
  }

  /** Streams every job's events after the store's `position` into `sink`, new jobs included. */
  subscribeEvery(position: string, sink: FeedSink<JobsFeedItem>): void {
    this.#feed.subscribeEvery(position, sink);
  }

  /**
   * Stops taking jobs and gives running ones `graceMs` to finish; then the dispatcher's policy
   * decides the rest: cancelled (in memory), left for the next start (a durable store), or
   * handed to another instance (a shared queue). Ends every stream with a final item.
   */
  shutdown(graceMs = 0): Promise<void> {
    this.#stopping ??= this.#shutdown(graceMs);
    return this.#stopping;
  }

  async #shutdown(graceMs: number): Promise<void> {
    this.#closing = true;
    for (const resolve of this.#writing.values()) resolve("closing");
    const stopped = this.#dispatcher.stopTaking();
    await this.#runner.stopAll(this.#dispatcher.policy.atShutdown, graceMs);
    await stopped;
    await this.#dispatcher.close();
    await this.#feed.closeAll();
    this.#retention.close();
  }

  /** Shuts down at once; for tests and embedding. */
  close(): Promise<void> {
    return this.shutdown(0);
  }

  #evict(id: string): void {
    this.#store.get(id).then((record) => {
      if (record) this.#counts.move(record.status, undefined);
      return this.#store.delete(id);
    }).catch((error) =>
      this.#logger.log("error", "job not evicted", { job: id, error: describeError(error) })
    );
    this.#logger.log("debug", "job evicted", { job: id });
  }
}
