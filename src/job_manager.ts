/**
 * Runs article jobs in the background: FIFO admission with a concurrency limit, a per-job event
 * log that any number of subscribers replay and follow, cancellation, eviction of finished jobs,
 * and graceful shutdown. Knows nothing of HTTP or SSE framing.
 *
 * @module
 */

import {
  type ArticleFlowOptions,
  type ArticleReporter,
  type ArticleState,
  createArticleFlow,
} from "./article_flow.ts";
import { Admission, type AdmissionTicket } from "./admission.ts";
import { type Clock, systemClock } from "./clock.ts";
import {
  FINISHED_STATUSES,
  type JobEvent,
  type JobEventType,
  type JobRecord,
  type JobStatus,
  type StepName,
  TERMINAL_EVENTS,
} from "./job.ts";
import { streamKey } from "./interrupted_streams.ts";
import { type FeedSink, JobFeed, type JobsFeedItem } from "./job_feed.ts";
import { newJobId } from "./job_id.ts";
import type { JobStore } from "./job_store.ts";
import type { LlmClient } from "./llm.ts";
import type { LlmPrices } from "./llm_prices.ts";
import { UsageMeter } from "./job_usage.ts";
import { type Logger, silentLogger } from "./logger.ts";
import { planRecovery } from "./recovery_plan.ts";
import { describeError } from "./retry.ts";
import { StoreUnavailableError } from "./store_unavailable_error.ts";

export { QueueFullError } from "./admission.ts";

/** Thrown by `cancel` for a job that has already finished. */
export class JobFinishedError extends Error {
  /** The job's final status. */
  readonly status: JobStatus;
  /** Creates the error for job `id` that ended as `status`. */
  constructor(id: string, status: JobStatus) {
    super(`Job ${id} has already finished as ${status}`);
    this.name = "JobFinishedError";
    this.status = status;
  }
}

/** Thrown by `submit` once shutdown has begun. */
export class ShuttingDownError extends Error {
  /** Creates the error. */
  constructor() {
    super("The service is shutting down and accepts no new jobs");
    this.name = "ShuttingDownError";
  }
}

/**
 * Hands jobs to whichever instance of the service runs them, for stores shared by several
 * instances. Without one, the manager runs every job itself, first come first served.
 */
export interface JobDispatcher {
  /**
   * Reserves a place for job `id` in one atomic step shared by every instance; throws
   * {@linkcode QueueFullError} when every running slot is busy and the shared waiting line is
   * full. The place is the job's until `enqueue` takes it over or `withdraw` gives it back.
   */
  admit(id: string): Promise<void>;
  /**
   * Puts job `record`, already stored with its `queued` event, in the shared waiting line, in
   * the place `admit` reserved (given back if this fails).
   */
  enqueue(record: JobRecord): Promise<void>;
  /** Gives back the place reserved for job `id`, which will not be enqueued. */
  withdraw(id: string): Promise<void>;
  /**
   * Cancels job `id`, which does not run here. Resolves with its record (`lastEventId` current)
   * if it was still waiting and never will run, so the caller writes its end; or with `null`
   * once the instance running it has been asked to stop.
   */
  cancel(id: string, reason: string): Promise<JobRecord | null>;
}

/** Settings of a {@linkcode JobManager}. */
export interface JobManagerOptions {
  /** Records and event logs. */
  store: JobStore;
  /** Who writes the text. */
  llm: LlmClient;
  /** Time source. */
  clock?: Clock;
  /** Structured logs. */
  logger?: Logger;
  /** Jobs running at once. Default 4. */
  maxConcurrentJobs?: number;
  /**
   * Jobs waiting beyond those running: a submit is refused when every running slot is busy and
   * this many wait (0: no waiting line). Default 100. With a dispatcher, it bounds the line
   * shared by every instance, and the dispatcher applies it.
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
  /** Runs jobs on any instance sharing the store; by default they run here, FIFO. */
  dispatcher?: JobDispatcher;
  /** Prices per model, for each job's `costUsd`; a model not listed has an unknown cost. */
  llmPrices?: LlmPrices;
}

/** Options of {@linkcode JobManager.execute}. */
export interface ExecuteOptions {
  /** Text streams the interrupted run left unfinished; each gets a `reset` delta first. */
  voidStreams?: readonly { step: StepName; index?: number }[];
}

/** What {@linkcode JobManager.recover} found in the store. */
export interface RecoveryReport {
  /** Queued jobs queued again. */
  requeued: number;
  /** Running jobs queued again, to go on from their last finished step. */
  resumed: number;
  /** Unfinished jobs that could not go on and were marked failed. */
  failed: number;
  /** Finished jobs kept from before, now under the retention rules again. */
  finished: number;
}

interface DeltaBuffer {
  step: StepName;
  index: number | undefined;
  text: string;
}

class ActiveJob {
  readonly record: JobRecord;
  readonly controller = new AbortController();
  readonly deltas = new Map<string, DeltaBuffer>();
  /** Keys of the streams that have sent text since they last started over. */
  readonly streamed = new Set<string>();
  done: Promise<void> = Promise.resolve();
  /** Stopped by shutdown and left unfinished in a durable store, for the next start to resume. */
  suspended = false;
  /** The newest store write; writes are applied in order, so it settles after all the others. */
  lastWrite: Promise<void> = Promise.resolve();
  /** Stopped here, unfinished, for another instance to resume: it writes nothing more. */
  released = false;
  /** A write to the store failed: the stored log is incomplete. */
  unsaved = false;
  /** Submitted, its first write not yet done: the job is not accepted yet. */
  accepting = false;
  /** Its place in this process's admission, given back when it leaves (see `#leave`). */
  ticket: AdmissionTicket | undefined;
  /** Its tokens, cost and step times, once it runs. */
  meter: UsageMeter | undefined;

  constructor(record: JobRecord) {
    this.record = record;
  }
}

const MAX_DELTA_CHARS = 2_048;
/** More events than any job logs: a recovering job's log is read whole. */
const WHOLE_LOG = 1_000_000;

/** Owns every job of this process: admission, running, event logs, subscribers, eviction. */
export class JobManager {
  readonly #store: JobStore;
  readonly #llm: LlmClient;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #maxConcurrent: number;
  readonly #admission: Admission;
  readonly #ttlMs: number;
  readonly #maxRetained: number;
  readonly #deltaFlushMs: number;
  readonly #flowOptions: ArticleFlowOptions;
  readonly #maxResumes: number;
  readonly #feed: JobFeed;
  readonly #dispatcher: JobDispatcher | undefined;
  readonly #prices: LlmPrices;
  readonly #active = new Map<string, ActiveJob>();
  readonly #queue: ActiveJob[] = [];
  /** Finished jobs in the order they finished, for eviction. */
  readonly #finished: { id: string; at: number }[] = [];
  readonly #statusCounts = new Map<JobStatus, number>();
  /** Jobs holding deltas not yet appended, for the shared flush timer. */
  readonly #pendingDeltas = new Set<ActiveJob>();
  #deltaTimer: ReturnType<typeof setTimeout> | undefined;
  #running = 0;
  #closing = false;
  /** Resolves when shutdown begins: submits still writing their job give up then. */
  readonly #closed = Promise.withResolvers<"closing">();
  #evictTimer: ReturnType<typeof setInterval> | undefined;

  /** Creates a manager; nothing runs until `submit`. */
  constructor(options: JobManagerOptions) {
    this.#store = options.store;
    this.#llm = options.llm;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#maxConcurrent = options.maxConcurrentJobs ?? 4;
    this.#admission = new Admission({
      running: this.#maxConcurrent,
      waiting: options.maxQueuedJobs ?? 100,
    });
    this.#ttlMs = options.jobTtlMs ?? 3_600_000;
    this.#maxRetained = options.maxRetainedJobs ?? 10_000;
    this.#deltaFlushMs = options.deltaFlushMs ?? 50;
    this.#flowOptions = options.flow ?? {};
    this.#maxResumes = options.maxResumes ?? 3;
    this.#dispatcher = options.dispatcher;
    this.#prices = options.llmPrices ?? {};
    this.#feed = new JobFeed({
      store: this.#store,
      heartbeatMs: options.heartbeatMs ?? 15_000,
      stallMs: options.stallMs ?? 30_000,
      clock: this.#clock,
    });
    // A durable store shows events once they are written; readers hear of them then.
    this.#store.onDurable?.((jobIds) => {
      for (const id of jobIds) this.#feed.notify(id);
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
      running: this.#running,
      queued: this.#queue.length,
      streams: this.#feed.size,
      itemsWritten: this.#feed.itemsWritten,
      stalledDrops: this.#feed.stalledDrops,
      jobsByStatus: Object.fromEntries(this.#statusCounts),
    };
  }

  /**
   * Accepts a job for `topic` (already validated) and returns its record once the job and its
   * `queued` event are stored. Throws {@linkcode QueueFullError} when every running slot is busy
   * and the waiting line is full, {@linkcode ShuttingDownError} once shutdown has begun (a job
   * still being written then is dropped), and {@linkcode StoreUnavailableError} when the first
   * write fails. A refused job leaves no trace.
   */
  async submit(topic: string): Promise<JobRecord> {
    if (this.#closing) throw new ShuttingDownError();
    // Taken before any await: submits of one burst see each other's places.
    const ticket = this.#dispatcher ? undefined : this.#admission.take();
    const createdAt = this.#clock.now();
    const record: JobRecord = {
      id: newJobId(createdAt),
      topic,
      status: "queued",
      progress: 0,
      step: null,
      provider: this.#llm.provider,
      model: this.#llm.model,
      createdAt,
      lastEventId: 0,
    };
    if (this.#dispatcher) {
      await this.#dispatcher.admit(record.id);
      if (this.#closing) {
        this.#dispatcher.withdraw(record.id).catch(() => {});
        throw new ShuttingDownError();
      }
    }
    const job = new ActiveJob(record);
    job.ticket = ticket;
    job.accepting = true;
    this.#active.set(record.id, job);
    this.#count(undefined, "queued");
    const outcome = await this.#firstWrite(job);
    job.accepting = false;
    if (outcome !== "written") {
      this.#abandon(job);
      throw outcome === "closing" ? new ShuttingDownError() : outcome;
    }
    if (FINISHED_STATUSES.has(record.status)) {
      // Cancelled while it was being written: it ends there, without running.
      this.#leave(job);
      this.#dispatcher?.withdraw(record.id).catch(() => {});
      return record;
    }
    this.#logger.log("info", "job queued", { job: record.id });
    if (this.#dispatcher) {
      // Whoever runs it continues the log.
      this.#leave(job);
      this.#count("queued", undefined);
      try {
        await this.#dispatcher.enqueue(record);
      } catch (error) {
        await this.#store.delete(record.id).catch(() => {});
        throw error;
      }
      return record;
    }
    this.#queue.push(job);
    this.#dispatch();
    return record;
  }

  /**
   * Writes a new job's record and its `queued` event: `written`, or `closing` when shutdown
   * began first, or the error that stopped the write.
   */
  async #firstWrite(job: ActiveJob): Promise<"written" | "closing" | StoreUnavailableError> {
    const record = job.record;
    const event: JobEvent = { id: 1, type: "status", data: { status: "queued", progress: 0 } };
    record.lastEventId = 1;
    // Both in one turn, so a store that groups writes puts them in one transaction.
    const written = Promise.all([this.#store.put(record), this.#store.append(record.id, event)]);
    job.lastWrite = written.then(() => {}, () => {});
    if (!this.#store.onDurable) this.#feed.notify(record.id);
    try {
      return await Promise.race([written.then(() => "written" as const), this.#closed.promise]);
    } catch (error) {
      this.#logger.log("warn", "job refused: not stored", {
        job: record.id,
        error: describeError(error),
      });
      return error instanceof StoreUnavailableError
        ? error
        : new StoreUnavailableError("The job store", { problem: "failed", cause: error });
    }
  }

  /** Drops a job that was never accepted: no place, no count, no record left behind. */
  #abandon(job: ActiveJob): void {
    const id = job.record.id;
    this.#leave(job);
    this.#count(job.record.status, undefined);
    const at = this.#finished.findIndex((entry) => entry.id === id);
    if (at !== -1) this.#finished.splice(at, 1);
    this.#dispatcher?.withdraw(id).catch(() => {});
    this.#store.delete(id).catch((error) =>
      this.#logger.log("error", "refused job not deleted", { job: id, error: describeError(error) })
    );
  }

  /** Takes `job` out of this process's jobs and gives back its place. */
  #leave(job: ActiveJob): void {
    if (this.#active.get(job.record.id) === job) this.#active.delete(job.record.id);
    job.ticket?.release();
    job.ticket = undefined;
  }

  /**
   * Takes up what a previous process left in a durable store; call once, before serving. Queued
   * jobs are queued again; running ones are queued to go on from their checkpoint (outline and
   * written sections are not paid for twice), or marked failed when that is impossible. Their
   * event ids go on from the stored log, so streams resume with `Last-Event-ID` across restarts.
   * Finished jobs come back under the retention rules.
   */
  async recover(): Promise<RecoveryReport> {
    const report: RecoveryReport = { requeued: 0, resumed: 0, failed: 0, finished: 0 };
    const unfinished = await this.#store.unfinished();
    const kept = await this.#store.list(this.#maxRetained + unfinished.length);
    for (const record of kept.reverse()) {
      if (!FINISHED_STATUSES.has(record.status) || this.#active.has(record.id)) continue;
      this.#count(undefined, record.status);
      this.#finished.push({ id: record.id, at: record.finishedAt ?? record.createdAt });
      report.finished++;
    }
    this.#finished.sort((a, b) => a.at - b.at);
    if (report.finished > 0) this.#scheduleEviction();
    for (const record of unfinished) {
      if (this.#active.has(record.id)) continue;
      const wasRunning = record.status === "running";
      // The record may be behind its log (see `restoreFromLog`); what was streamed is in the log.
      const log = wasRunning ? await this.#store.events(record.id, 0, WHOLE_LOG) : [];
      const plan = planRecovery(record, log, this.#maxResumes);
      const job = new ActiveJob(record);
      this.#active.set(record.id, job);
      this.#count(undefined, record.status);
      if (plan.action === "fail") {
        this.#finish(job, "failed", {
          message: plan.reason,
          ...(record.step ? { step: record.step } : {}),
        });
        this.#leave(job);
        report.failed++;
        continue;
      }
      // Admitted before the restart: it keeps its place, even beyond the bound.
      job.ticket = this.#admission.force();
      if (plan.action === "resume") {
        // A graceful stop is not the job's fault; only crashes count towards `maxResumes`.
        if (!record.suspended) record.resumes = (record.resumes ?? 0) + 1;
        delete record.suspended;
        // Clients drop the text the dead run left half-written; the next run streams it anew.
        for (const { step, index } of plan.voidStreams) this.#voidStream(job, step, index);
        this.#setStatus(record, "queued");
        report.resumed++;
      } else {
        report.requeued++;
      }
      this.#emit(job, "status", {
        status: "queued",
        progress: record.progress,
        resumed: true,
        reason: wasRunning
          ? "The service restarted while the job ran; it goes on from its last finished step"
          : "The service restarted; the job is queued again",
      });
      this.#queue.push(job);
    }
    this.#dispatch();
    if (unfinished.length > 0 || report.finished > 0) {
      this.#logger.log("info", "jobs recovered", { ...report });
    }
    return report;
  }

  /**
   * Runs job `record`, admitted by the dispatcher, here; resolves once it has ended and its
   * events are stored. A record already `running` was interrupted elsewhere: it resumes from
   * its checkpoint, its log continuing from `record.lastEventId`. Resolves `released` when
   * shutdown stopped it unfinished, for the dispatcher to hand to another instance, and
   * `unsaved` when some of its events could not be stored, for the dispatcher to run it again.
   */
  async execute(
    record: JobRecord,
    options: ExecuteOptions = {},
  ): Promise<"ended" | "released" | "unsaved"> {
    const job = new ActiveJob(record);
    this.#active.set(record.id, job);
    this.#count(undefined, record.status);
    this.#running++;
    try {
      job.done = this.#run(job, options);
      await job.done;
      await job.lastWrite;
      return job.released ? "released" : job.unsaved ? "unsaved" : "ended";
    } finally {
      this.#running--;
      this.#active.delete(record.id);
    }
  }

  /** The record of job `id`, if kept. */
  async get(id: string): Promise<JobRecord | undefined> {
    return this.#active.get(id)?.record ?? await this.#store.get(id);
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
    const job = this.#active.get(id);
    if (!job) {
      const record = await this.#store.get(id);
      if (record && this.#dispatcher && !FINISHED_STATUSES.has(record.status)) {
        return await this.#cancelElsewhere(id, reason);
      }
      if (record) throw new JobFinishedError(id, record.status);
      return undefined;
    }
    if (FINISHED_STATUSES.has(job.record.status)) throw new JobFinishedError(id, job.record.status);
    const queuedAt = this.#queue.indexOf(job);
    if (queuedAt !== -1) {
      this.#queue.splice(queuedAt, 1);
      this.#leave(job);
    }
    this.#finish(job, "cancelled", { reason });
    job.controller.abort(new DOMException(reason, "AbortError"));
    return job.record;
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
   * of every job's appends; `undefined` when the store keeps no such order.
   */
  eventsHead(): Promise<string> | undefined {
    return this.#store.headPosition?.();
  }

  /** Streams every job's events after the store's `position` into `sink`, new jobs included. */
  subscribeEvery(position: string, sink: FeedSink<JobsFeedItem>): void {
    this.#feed.subscribeEvery(position, sink);
  }

  /**
   * Stops taking jobs, cancels the queued ones, gives running ones `graceMs` to finish, cancels
   * the rest, and ends every stream with a final item. With a durable store, queued and unfinished
   * jobs are left as they are instead, for the next start to resume.
   */
  async shutdown(graceMs = 0): Promise<void> {
    this.#closing = true;
    this.#closed.resolve("closing");
    const keep = this.#store.durable === true;
    if (keep) {
      for (const job of this.#queue.splice(0)) this.#leave(job);
    }
    for (const job of [...this.#queue]) await this.cancel(job.record.id, "The service shut down");
    const running = [...this.#active.values()].map((job) => job.done);
    if (running.length > 0 && graceMs > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled(running),
        new Promise((resolve) => timer = setTimeout(resolve, graceMs)),
      ]);
      clearTimeout(timer);
    }
    for (const job of [...this.#active.values()]) {
      // Not accepted yet: its submit answers 503 and leaves no trace (see `submit`).
      if (job.accepting) continue;
      if (this.#dispatcher && !FINISHED_STATUSES.has(job.record.status)) {
        // Another instance can finish it: stop without an end, rather than cancel it.
        this.#flushDeltas(job);
        job.released = true;
        job.controller.abort(new DOMException("Handed to another instance", "AbortError"));
        this.#logger.log("info", "job released", { job: job.record.id });
      } else if (keep && !FINISHED_STATUSES.has(job.record.status)) {
        this.#suspend(job);
      } else if (!FINISHED_STATUSES.has(job.record.status)) {
        await this.cancel(job.record.id, "The service shut down before the job finished").catch(
          () => {},
        );
      }
    }
    await Promise.allSettled(running);
    clearTimeout(this.#deltaTimer);
    this.#flushPendingDeltas();
    await this.#feed.closeAll();
    if (this.#evictTimer !== undefined) clearInterval(this.#evictTimer);
    this.#evictTimer = undefined;
  }

  async #cancelElsewhere(id: string, reason: string): Promise<JobRecord | undefined> {
    const waiting = await (this.#dispatcher as JobDispatcher).cancel(id, reason);
    if (waiting) {
      const job = new ActiveJob(waiting);
      this.#finish(job, "cancelled", { reason });
      await job.lastWrite;
      return job.record;
    }
    // Running elsewhere: report the end it writes, if it comes soon.
    for (let waited = 0; waited < 5_000; waited += 50) {
      const record = await this.#store.get(id);
      if (!record || FINISHED_STATUSES.has(record.status)) return record;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return await this.#store.get(id);
  }

  /** Shuts down at once; for tests and embedding. */
  close(): Promise<void> {
    return this.shutdown(0);
  }

  #suspend(job: ActiveJob): void {
    job.suspended = true;
    job.record.suspended = true;
    this.#flushDeltas(job);
    this.#store.put(job.record).catch((error) =>
      this.#logger.log("error", "job not stored", {
        job: job.record.id,
        error: describeError(error),
      })
    );
    job.controller.abort(new DOMException("The service shut down", "AbortError"));
    this.#logger.log("info", "job suspended", { job: job.record.id });
  }

  #dispatch(): void {
    while (this.#running < this.#maxConcurrent && this.#queue.length > 0) {
      const job = this.#queue.shift() as ActiveJob;
      this.#running++;
      job.done = this.#run(job).finally(() => {
        this.#running--;
        this.#leave(job);
        this.#dispatch();
      });
    }
  }

  async #run(job: ActiveJob, options: ExecuteOptions = {}): Promise<void> {
    const { record, controller } = job;
    if (record.status === "running") {
      // Resumed after its instance died: clients saw it start; only void what it left half-said.
      this.#logger.log("info", "job resumed", { job: record.id });
      for (const { step, index } of options.voidStreams ?? []) this.#voidStream(job, step, index);
    } else {
      record.startedAt ??= this.#clock.now();
      // A resumed job with a saved outline goes straight on to its sections.
      record.step = record.checkpoint?.sections ? "content" : "outline";
      this.#setStatus(record, "running");
      this.#emit(job, "status", { status: "running", progress: record.progress });
      this.#logger.log("info", "job started", { job: record.id });
    }
    job.meter = new UsageMeter(
      record,
      record.model === null ? undefined : this.#prices[record.model],
      this.#clock,
    );
    const state: ArticleState = { topic: record.topic };
    if (record.checkpoint?.sections) state.sections = [...record.checkpoint.sections];
    if (record.checkpoint?.contents) state.contents = [...record.checkpoint.contents];
    try {
      await createArticleFlow(this.#llm, this.#reporter(job, state), this.#flowOptions)
        .run(state, { signal: controller.signal });
      // Cancelled as it finished, or another run continues it.
      if (FINISHED_STATUSES.has(record.status) || this.#handedOn(job)) return;
      this.#finish(job, "completed", {});
      const article = state.article ?? "";
      this.#emit(job, "complete", {
        progress: 100,
        article,
        sections: state.sections ?? [],
        ...job.meter.summary(),
      });
    } catch (error) {
      // Cancelled (already reported), left for the next start, or another run continues it.
      if (FINISHED_STATUSES.has(record.status) || job.suspended || this.#handedOn(job)) return;
      const step = record.step;
      const message = `${step ? `The ${step} step failed: ` : ""}${describeError(error)}`;
      this.#finish(job, "failed", { message, ...(step ? { step } : {}) });
    }
  }

  #reporter(job: ActiveJob, state: ArticleState): ArticleReporter {
    const record = job.record;
    const checkpoint = () => {
      if (FINISHED_STATUSES.has(record.status)) return;
      record.checkpoint = {
        ...(state.sections ? { sections: state.sections } : {}),
        ...(state.contents ? { contents: state.contents } : {}),
      };
    };
    return {
      outline: (sections) => {
        record.sections = sections;
        checkpoint();
        this.#emit(job, "progress", { step: "outline", progress: 33, sections });
        record.step = "content";
      },
      sectionWritten: (index, section, completed, total) => {
        checkpoint();
        this.#emit(job, "progress", {
          step: "content",
          progress: 33 + Math.floor(completed * 33 / total),
          section,
          index,
          completed,
          total,
        });
      },
      styleStarted: () => {
        record.step = "style";
        this.#emit(job, "progress", { step: "style", progress: 66, stage: "started" });
      },
      styleFinished: () => {
        this.#emit(job, "progress", { step: "style", progress: 99, stage: "finished" });
      },
      delta: (step, index, text) => this.#bufferDelta(job, step, index, text),
      restart: (step, index) => {
        const key = streamKey(step, index);
        job.deltas.delete(key);
        if (job.streamed.delete(key)) this.#voidStream(job, step, index);
      },
      // Accounting stops with the job: a cancelled call that ends later is not added.
      stepStarted: (step) => {
        if (!FINISHED_STATUSES.has(record.status)) job.meter?.started(step);
      },
      stepFinished: (step) => {
        if (FINISHED_STATUSES.has(record.status) || !job.meter) return;
        job.meter.finished(step);
        this.#emit(job, "usage", { step, ...job.meter.summary() });
      },
      llmAttempt: (step, usage) => {
        if (!FINISHED_STATUSES.has(record.status)) job.meter?.attempt(step, usage);
      },
    };
  }

  /** Tells clients to drop the text streamed so far for `step` (and section `index`). */
  #voidStream(job: ActiveJob, step: StepName, index: number | undefined): void {
    this.#emit(job, "delta", {
      step,
      ...(index === undefined ? {} : { index }),
      text: "",
      reset: true,
    });
  }

  #bufferDelta(job: ActiveJob, step: StepName, index: number | undefined, text: string): void {
    if (FINISHED_STATUSES.has(job.record.status)) return;
    const key = streamKey(step, index);
    job.streamed.add(key);
    const buffer = job.deltas.get(key);
    if (buffer) buffer.text += text;
    else job.deltas.set(key, { step, index, text });
    // A single large chunk counts too, so events stay about MAX_DELTA_CHARS whatever the chunking.
    if (this.#deltaFlushMs <= 0 || (buffer ? buffer.text.length : text.length) >= MAX_DELTA_CHARS) {
      this.#flushDeltas(job);
    } else {
      this.#pendingDeltas.add(job);
      // One timer for every job, not one per job per call: each would cost more than the text
      // it carries. A job's text thus waits at most `deltaFlushMs`, not always that long.
      this.#deltaTimer ??= setTimeout(() => this.#flushPendingDeltas(), this.#deltaFlushMs);
    }
  }

  #flushPendingDeltas(): void {
    this.#deltaTimer = undefined;
    const jobs = [...this.#pendingDeltas];
    this.#pendingDeltas.clear();
    for (const job of jobs) this.#flushDeltas(job);
  }

  #flushDeltas(job: ActiveJob): void {
    this.#pendingDeltas.delete(job);
    if (job.deltas.size === 0) return;
    const buffers = [...job.deltas.values()];
    job.deltas.clear();
    for (const { step, index, text } of buffers) {
      if (text === "") continue;
      this.#append(job, "delta", { step, ...(index === undefined ? {} : { index }), text });
    }
  }

  #finish(
    job: ActiveJob,
    status: "completed" | "failed" | "cancelled",
    data: Record<string, unknown>,
  ): void {
    const record = job.record;
    if (FINISHED_STATUSES.has(record.status)) return;
    // A step cut short by the end still took time and tokens: say so before the end.
    if (job.meter?.stopAll()) {
      this.#emit(job, "usage", { step: record.step, ...job.meter.summary() });
    }
    this.#flushDeltas(job);
    record.finishedAt = this.#clock.now();
    // Only an unfinished job goes on from its checkpoint; a finished one's log has it all.
    delete record.checkpoint;
    this.#setStatus(record, status);
    if (status === "failed") {
      record.error = String(data.message);
      this.#emit(job, "error", data);
    } else if (status === "cancelled") {
      this.#emit(job, "cancelled", {});
    }
    // `completed` emits its own terminal event once the record holds the article.
    this.#logger.log(status === "failed" ? "warn" : "info", `job ${status}`, {
      job: record.id,
      ...(record.error ? { error: record.error } : {}),
      ms: record.finishedAt - (record.startedAt ?? record.createdAt),
    });
    this.#finished.push({ id: record.id, at: record.finishedAt });
    this.#scheduleEviction();
  }

  #emit(job: ActiveJob, type: JobEventType, data: Record<string, unknown>): void {
    this.#flushDeltas(job);
    this.#append(job, type, data);
  }

  #append(job: ActiveJob, type: JobEventType, data: Record<string, unknown>): void {
    const record = job.record;
    // Text still arriving from a call that was cancelled is of no use to anyone.
    if (FINISHED_STATUSES.has(record.status) && !TERMINAL_EVENTS.has(type)) return;
    if (this.#handedOn(job)) return; // no gaps: the run that follows continues the log

    const event: JobEvent = { id: record.lastEventId + 1, type, data };
    record.lastEventId = event.id;
    if (type === "progress") record.progress = data.progress as number;
    if (type === "complete") {
      record.progress = 100;
      record.article = data.article as string;
      record.sections = data.sections as string[];
    }
    job.lastWrite = this.#store.append(record.id, event).catch((error) =>
      this.#unsaved(job, "event not stored", error)
    );
    if (type !== "delta") {
      job.lastWrite = this.#store.put(record).catch((error) =>
        this.#unsaved(job, "job not stored", error)
      );
    }
    // A durable store's readers hear of the event once it is written (see the constructor).
    if (!this.#store.onDurable) this.#feed.notify(record.id);
  }

  #unsaved(job: ActiveJob, msg: string, error: unknown): void {
    // Once per job: a store that is down fails every write, and says so itself.
    if (job.unsaved) return;
    this.#logger.log("error", msg, { job: job.record.id, error: describeError(error) });
    job.unsaved = true;
    // Its log cannot grow: stop paying for the run; the dispatcher runs it again later.
    if (this.#dispatcher) job.controller.abort(new DOMException(msg, "AbortError"));
  }

  /** Whether the run stopped for another run to continue it, rather than ended. */
  #handedOn(job: ActiveJob): boolean {
    return job.released || (job.unsaved && this.#dispatcher !== undefined);
  }

  #setStatus(record: JobRecord, status: JobStatus): void {
    this.#count(record.status, status);
    record.status = status;
  }

  #count(from: JobStatus | undefined, to: JobStatus | undefined): void {
    if (from) this.#statusCounts.set(from, (this.#statusCounts.get(from) ?? 0) - 1);
    if (to) this.#statusCounts.set(to, (this.#statusCounts.get(to) ?? 0) + 1);
  }

  #scheduleEviction(): void {
    if (this.#finished.length > this.#maxRetained) this.#evict();
    if (this.#evictTimer !== undefined || this.#closing) return;
    const every = Math.min(60_000, Math.max(10, this.#ttlMs / 4));
    const timer = setInterval(() => this.#evict(), every);
    Deno.unrefTimer(timer);
    this.#evictTimer = timer;
  }

  #evict(): void {
    const cutoff = this.#clock.now() - this.#ttlMs;
    while (this.#finished.length > 0) {
      const oldest = this.#finished[0] as { id: string; at: number };
      if (oldest.at > cutoff && this.#finished.length <= this.#maxRetained) break;
      this.#finished.shift();
      this.#active.delete(oldest.id);
      this.#store.get(oldest.id).then((record) => {
        if (record) this.#count(record.status, undefined);
        return this.#store.delete(oldest.id);
      }).catch((error) =>
        this.#logger.log("error", "job not evicted", {
          job: oldest.id,
          error: describeError(error),
        })
      );
      this.#logger.log("debug", "job evicted", { job: oldest.id });
    }
    if (this.#finished.length === 0 && this.#evictTimer !== undefined) {
      clearInterval(this.#evictTimer);
      this.#evictTimer = undefined;
    }
  }
}
