/**
 * Spreads jobs over every instance sharing one Redis, with BullMQ: one queue; each instance runs
 * a worker taking up to `MAX_CONCURRENT_JOBS` jobs, under BullMQ's global concurrency cap. A
 * worker holds a lock on each job it runs and renews it; when an instance dies, the lock
 * expires, BullMQ's stalled-job check puts the job back, and another instance resumes it from
 * the record's checkpoint (at-least-once, with finished steps never paid for twice).
 *
 * Cancelling a job that runs on another instance sets a flag key (read when a job starts or
 * resumes) and publishes on a channel every instance listens to; the one running it aborts it.
 *
 * Admission is one Lua script, so submits to any instance in the same instant are counted
 * against each other: a job is refused when the jobs BullMQ holds (waiting, running, delayed
 * for a retry) plus those reserved but not yet added fill every running slot and the
 * `MAX_QUEUED_JOBS` waiting places. Running slots are the sum of the live instances'
 * `MAX_CONCURRENT_JOBS`, capped by `GLOBAL_CONCURRENT_JOBS`; each instance keeps a lease on its
 * share. There is no counter to give back: BullMQ's own lists are counted, which its stalled-job
 * check repairs when an instance dies, a reservation lapses after a while if its instance died
 * before adding the job, and a dead instance's lease lapses too.
 *
 * @module
 */

import { type Job, Queue, WaitingError, Worker } from "bullmq";
import { Redis } from "ioredis";
import { FINISHED_STATUSES, type JobRecord } from "../core/job.ts";
import type { FencedJobStore } from "../core/job_store.ts";
import { BullmqAdmission } from "./bullmq_admission.ts";
import { endDroppedJob } from "./end_dropped_job.ts";
import type { JobDispatcher, JobRunner, RunPolicy } from "./job_dispatcher.ts";
import { interruptedStreams } from "../core/unfinished_text.ts";
import { type Logger, silentLogger } from "../core/logger.ts";
import { closeClient, failFastOptions } from "../store/redis_job_store.ts";
import { describeError } from "../core/describe_error.ts";
import { StoreUnavailableError } from "../core/store_unavailable_error.ts";
import {
  encodeCancelMessage,
  parseCancelMessage,
  protocolKeys,
  withTimeout,
} from "./bullmq_protocol.ts";

/** Settings of a {@linkcode BullmqDispatcher}. */
export interface BullmqDispatcherOptions {
  /** The Redis the store uses. */
  url: string;
  /** Records and logs, for the jobs this instance runs or cancels. */
  store: FencedJobStore;
  /** Jobs this instance runs at once. */
  concurrency: number;
  /** Jobs running at once across all instances; 0 leaves only each instance's `concurrency`. */
  globalConcurrency: number;
  /** Jobs waiting across all instances beyond which submits are refused. */
  maxQueued: number;
  /** How long a job's lock lasts unrenewed before another instance may take the job, in ms. */
  lockMs: number;
  /** Structured logs. */
  logger?: Logger;
  /** BullMQ key prefix. Default `qf:bull`. */
  prefix?: string;
}

interface QueuedJob {
  id: string;
}

const QUEUE = "articles";
/** How long a cancel flag outlives the request, in ms: longer than any hand-over. */
const CANCEL_FLAG_MS = 86_400_000;

/** A run whose events were not all stored: BullMQ tries the job again. */
class RetryableRunError extends Error {
  constructor(id: string) {
    super(`Job ${id} could not store all its events; it will run again`);
    this.name = "RetryableRunError";
  }
}

/** How long a cancel waits for the end written by the instance running the job, in ms. */
const CANCEL_WAIT_MS = 5_000;

/** A {@linkcode JobDispatcher} on a BullMQ queue; call `start` to take jobs. */
export class BullmqDispatcher implements JobDispatcher {
  /** A stopping instance hands its jobs to another; a run that cannot store stops, to rerun. */
  readonly policy: RunPolicy = { atShutdown: "release", stopWhenUnsaved: true };
  /** The waiting line is in Redis, shared: none here. */
  readonly waiting = 0;
  readonly #options: BullmqDispatcherOptions;
  readonly #logger: Logger;
  readonly #queue: Queue<QueuedJob>;
  readonly #queueClient: Redis;
  readonly #commands: Redis;
  readonly #cancels: Redis;
  readonly #prefix: string;
  readonly #keys: ReturnType<typeof protocolKeys>;
  /** Jobs this instance's worker is running, which a cancel message may be about. */
  readonly #running = new Set<string>();
  readonly #admission: BullmqAdmission;
  /** Set once this instance stops taking jobs. */
  #stopping = false;
  #worker: Worker<QueuedJob> | undefined;
  #workerClient: Redis | undefined;
  #runner: JobRunner | undefined;
  #closed: Promise<void> | undefined;

  private constructor(options: BullmqDispatcherOptions) {
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#prefix = options.prefix ?? "qf:bull";
    this.#keys = protocolKeys(this.#prefix);
    const log = (what: string) => (error: Error) =>
      this.#logger.log("debug", `${what} connection error`, { error: error.message });
    this.#queueClient = new Redis(options.url, { ...failFastOptions(), lazyConnect: false });
    this.#queueClient.on("error", log("queue"));
    this.#commands = new Redis(options.url, failFastOptions());
    this.#commands.on("error", log("command"));
    this.#cancels = new Redis(options.url, failFastOptions(true));
    this.#cancels.on("error", log("cancel"));
    this.#queue = new Queue<QueuedJob>(QUEUE, {
      connection: this.#queueClient,
      prefix: this.#prefix,
    });
    this.#queue.on("error", log("queue"));
    this.#admission = new BullmqAdmission({
      commands: this.#commands,
      queue: this.#queue,
      keys: this.#keys,
      concurrency: options.concurrency,
      maxQueued: options.maxQueued,
      logger: this.#logger,
    });
  }

  /** Connects and applies the global concurrency cap. */
  static async create(options: BullmqDispatcherOptions): Promise<BullmqDispatcher> {
    const dispatcher = new BullmqDispatcher(options);
    try {
      await withTimeout(dispatcher.#commands.connect(), 5_000);
      await withTimeout(dispatcher.#cancels.connect(), 5_000);
      await withTimeout(dispatcher.#cancels.subscribe(dispatcher.#keys.cancels), 5_000);
      // One value for the whole cluster, set by whichever instance starts last: say so when
      // this one changes what another instance set.
      const before = await withTimeout(dispatcher.#queue.getGlobalConcurrency(), 5_000);
      if (before !== null && before !== options.globalConcurrency) {
        dispatcher.#logger.log("warn", "global concurrency changed", {
          from: before,
          to: options.globalConcurrency,
          hint: "GLOBAL_CONCURRENT_JOBS is shared by every instance: give them all the same value",
        });
      }
      await withTimeout(
        options.globalConcurrency > 0
          ? dispatcher.#queue.setGlobalConcurrency(options.globalConcurrency)
          : dispatcher.#queue.removeGlobalConcurrency(),
        5_000,
      );
    } catch (error) {
      await dispatcher.close();
      throw error;
    }
    dispatcher.#cancels.on(
      "message",
      (_channel: string, message: string) => dispatcher.#onCancelMessage(message),
    );
    return dispatcher;
  }

  /** None here: the line is in Redis. */
  peek(): undefined {
    return undefined;
  }

  attach(runner: JobRunner): void {
    this.#runner = runner;
  }

  /**
   * Starts this instance's worker, which runs jobs through the attached runner, and adds its
   * running slots to the admission count. Call `close` if it rejects.
   */
  async start(): Promise<void> {
    if (!this.#runner) throw new TypeError("Cannot take jobs: no runner is attached");
    const { lockMs } = this.#options;
    // Workers block on Redis; BullMQ requires such connections to retry forever.
    this.#workerClient = new Redis(this.#options.url, { maxRetriesPerRequest: null });
    this.#workerClient.on("error", () => {});
    const worker = new Worker<QueuedJob>(QUEUE, (job, token) => this.#process(job, token), {
      connection: this.#workerClient,
      prefix: this.#prefix,
      concurrency: this.#options.concurrency,
      lockDuration: lockMs,
      stalledInterval: Math.max(250, Math.floor(lockMs / 2)),
      // A job interrupted more often than this is failed by BullMQ; ours resume cheaply.
      maxStalledCount: 5,
      removeOnComplete: { count: 0 },
      removeOnFail: { count: 1_000 },
    });
    this.#worker = worker;
    worker.on(
      "error",
      (error) => this.#logger.log("warn", "worker error", { error: error.message }),
    );
    worker.on("stalled", (id) => this.#logger.log("warn", "job stalled, resuming", { job: id }));
    worker.on("failed", (job, error) => {
      const last = !job || job.attemptsMade >= (job.opts.attempts ?? 1) ||
        /stalled more than/.test(error.message);
      this.#logger.log(last ? "error" : "warn", last ? "job dropped by the queue" : "job retried", {
        job: job?.data.id,
        error: error.message,
      });
      if (last && job) {
        endDroppedJob(this.#options.store, job.data.id, error.message).catch((cause) =>
          this.#logger.log("error", "dropped job not ended", {
            job: job.data.id,
            error: describeError(cause),
          })
        );
      }
    });
    await this.#admission.join(lockMs);
  }

  admit(id: string): Promise<void> {
    return this.#admission.admit(id);
  }

  withdraw(id: string): void {
    this.#admission.unreserve(id).catch(() => {});
  }

  /** Jobs waiting in the shared line, and running on any instance. */
  async counts(): Promise<{ waiting: number; running: number }> {
    const [waiting, running] = await Promise.all([
      withTimeout(this.#queue.getWaitingCount()),
      withTimeout(this.#queue.getActiveCount()),
    ]);
    return { waiting, running };
  }

  async enqueue(record: JobRecord): Promise<"shared"> {
    try {
      await this.#add(record);
    } finally {
      // Counted in BullMQ's lists from now on (or never to be): the reservation is done.
      await this.#admission.unreserve(record.id).catch(() => {});
    }
    return "shared";
  }

  /** Adds job `record` to the shared line again; BullMQ ignores a job it already holds. */
  requeue(record: JobRecord): void {
    this.#add(record).catch((error) =>
      this.#logger.log("error", "job not queued again", {
        job: record.id,
        error: describeError(error),
      })
    );
  }

  async #add(record: JobRecord): Promise<void> {
    {
      await withTimeout(this.#queue.add("article", { id: record.id }, {
        jobId: record.id,
        // Retries are for Redis failing under a run; the job's own failures end in its record.
        attempts: 10,
        backoff: { type: "exponential", delay: 500 },
      }));
    }
  }

  async cancel(id: string, reason: string): Promise<JobRecord | undefined> {
    const waiting = await this.#cancelHere(id, reason);
    if (waiting) return await (this.#runner as JobRunner).endWaiting(waiting, reason);
    // Running elsewhere: report the end it writes, if it comes soon.
    const store = this.#options.store;
    for (let waited = 0; waited < CANCEL_WAIT_MS; waited += 50) {
      const record = await store.get(id);
      if (!record || FINISHED_STATUSES.has(record.status)) return record;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return await store.get(id);
  }

  /**
   * Takes job `id` out of the line if it waits there, returning its record; otherwise asks the
   * instance running it to stop and returns `null`.
   */
  async #cancelHere(id: string, reason: string): Promise<JobRecord | null> {
    // The flag covers a job that resumes after a hand-over, when no one heard the message.
    await withTimeout(this.#commands.set(this.#keys.cancelFlag(id), reason, "PX", CANCEL_FLAG_MS));
    const job = await withTimeout(this.#queue.getJob(id));
    if (job) {
      let removed = false;
      try {
        await withTimeout(job.remove());
        removed = true;
      } catch (error) {
        // Refused while a worker holds the job's lock, that is, while it runs.
        const cause = error instanceof StoreUnavailableError ? error.cause : error;
        if (!/lock/i.test(String((cause as Error)?.message))) throw error;
      }
      if (removed) return (await this.#options.store.get(id)) ?? null;
    }
    await withTimeout(this.#commands.publish(this.#keys.cancels, encodeCancelMessage(id, reason)));
    return null;
  }

  /**
   * Stops taking jobs and takes this instance's slots out of the admission count; resolves once
   * the jobs this instance runs have ended.
   */
  async stopTaking(): Promise<void> {
    this.#stopping = true;
    const closed = this.#worker?.close();
    await this.#admission.leave();
    await closed;
  }

  /** Stops the worker and releases the connections. */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    await this.#admission.leave();
    await this.#worker?.close().catch(() => {});
    await this.#queue.close().catch(() => {});
    for (const client of [this.#commands, this.#cancels, this.#queueClient, this.#workerClient]) {
      if (client) await closeClient(client);
    }
  }

  async #process(job: Job<QueuedJob>, token: string | undefined): Promise<void> {
    const id = job.data.id;
    const runner = this.#runner as JobRunner;
    const store = this.#options.store;
    if (this.#stopping) {
      // A fetch already under way when the worker began to close can still return a job, even
      // the one this instance just released: hand it straight back for another instance.
      await job.moveToWait(token);
      throw new WaitingError();
    }
    // Claim the job before reading it: a run this one takes over (its instance froze past its
    // lock) can write nothing after this, so the log read next is the one to go on from.
    await store.fence(id, crypto.randomUUID());
    let record: JobRecord | undefined;
    let voidStreams: ReturnType<typeof interruptedStreams> = [];
    try {
      record = await store.get(id);
      if (record?.status === "running") {
        voidStreams = interruptedStreams(await store.events(id, 0, 1_000_000));
      }
    } catch (error) {
      store.unfence(id);
      throw error;
    }
    if (!record || FINISHED_STATUSES.has(record.status)) {
      store.unfence(id); // ended before a hand-over
      return;
    }
    const done = runner.execute(record, { voidStreams, fromSharedLine: true });
    this.#running.add(id);
    try {
      const reason = await this.#commands.get(this.#keys.cancelFlag(id)).catch(() => null);
      if (reason !== null) runner.cancelRun(id, reason);
      const outcome = await done;
      if (outcome === "released") {
        // Shutting down: back to the waiting line now, not after the lock expires.
        await job.moveToWait(token);
        throw new WaitingError();
      }
      if (outcome === "unsaved" && store.wasTaken(id)) {
        // Another instance runs it now; this one's lock is gone, so BullMQ has nothing to end.
        this.#logger.log("warn", "job taken over", { job: id });
        return;
      }
      if (outcome === "unsaved") {
        // Redis went away mid-run: BullMQ runs it again (from its checkpoint) after a backoff.
        throw new RetryableRunError(id);
      }
    } finally {
      this.#running.delete(id);
      store.unfence(id);
    }
  }

  /** Acts on a cancel request published by another instance; anything else is ignored. */
  #onCancelMessage(message: string): void {
    const request = parseCancelMessage(message);
    if (!request) {
      this.#logger.log("warn", "cancel message ignored", { message: message.slice(0, 200) });
      return;
    }
    const { id, reason } = request;
    // Only the instance running it acts; the others would bounce the request around.
    if (!this.#running.has(id)) return;
    this.#runner?.cancelRun(id, reason);
  }
}
