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
import { FINISHED_STATUSES, type JobRecord } from "./job.ts";
import { QueueFullError } from "./admission.ts";
import type { JobDispatcher, JobManager } from "./job_manager.ts";
import { interruptedStreams } from "./interrupted_streams.ts";
import { type Logger, silentLogger } from "./logger.ts";
import { closeClient, failFastOptions, type RedisJobStore } from "./redis_job_store.ts";
import { describeError } from "./retry.ts";
import { StoreUnavailableError } from "./store_unavailable_error.ts";

/** Settings of a {@linkcode BullmqDispatcher}. */
export interface BullmqDispatcherOptions {
  /** The Redis the store uses. */
  url: string;
  /** Records and logs, for the jobs this instance runs or cancels. */
  store: RedisJobStore;
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
/** How long a Redis call may take before a request gives up on it, in ms. */
const CALL_TIMEOUT_MS = 2_000;
/** How long a cancel flag outlives the request, in ms: longer than any hand-over. */
const CANCEL_FLAG_MS = 86_400_000;
/** How long a place reserved by `admit` is kept for a job its instance never added, in ms. */
const RESERVATION_MS = 30_000;
/** How long an instance's running slots count after its last renewal, at the least, in ms. */
const MIN_LEASE_MS = 10_000;

// The time of the Redis server, so instances with skewed clocks agree on leases.
const NOW = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`;

// KEYS: wait, active, paused, delayed, prioritized, meta, workers, reservations.
// ARGV: job id, waiting places, reservation ms, job key prefix. Returns 1 when admitted.
const ADMIT = `
${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', now)
local slots = 0
for _, worker in ipairs(redis.call('ZRANGE', KEYS[7], 0, -1)) do
  slots = slots + tonumber(string.match(worker, '|(%d+)$'))
end
local cap = tonumber(redis.call('HGET', KEYS[6], 'concurrency'))
if cap and cap < slots then slots = cap end
local held = redis.call('LLEN', KEYS[1]) + redis.call('LLEN', KEYS[2]) +
  redis.call('LLEN', KEYS[3]) + redis.call('ZCARD', KEYS[4]) + redis.call('ZCARD', KEYS[5])
for _, id in ipairs(redis.call('ZRANGE', KEYS[8], 0, -1)) do
  if redis.call('EXISTS', ARGV[4] .. id) == 0 then held = held + 1 end
end
if held >= slots + tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[8], now + tonumber(ARGV[3]), ARGV[1])
return 1
`;

// KEYS: workers. ARGV: this instance's member (id|slots), lease ms.
const RENEW = `
${NOW}
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
`;

async function withTimeout<T>(call: Promise<T>, ms = CALL_TIMEOUT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      call,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms}ms`)), ms);
      }),
    ]);
  } catch (error) {
    if (error instanceof Error && error.name === "ReplyError") throw error;
    throw new StoreUnavailableError("Redis", { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

/** A run whose events were not all stored: BullMQ tries the job again. */
class RetryableRunError extends Error {
  constructor(id: string) {
    super(`Job ${id} could not store all its events; it will run again`);
    this.name = "RetryableRunError";
  }
}

/** A {@linkcode JobDispatcher} on a BullMQ queue; call `start` to take jobs. */
export class BullmqDispatcher implements JobDispatcher {
  readonly #options: BullmqDispatcherOptions;
  readonly #logger: Logger;
  readonly #queue: Queue<QueuedJob>;
  readonly #queueClient: Redis;
  readonly #commands: Redis;
  readonly #cancels: Redis;
  readonly #prefix: string;
  /** Jobs this instance's worker is running, which a cancel message may be about. */
  readonly #running = new Set<string>();
  /** This instance's running slots in the admission count: `<id>|<slots>`. */
  readonly #member: string;
  #renewTimer: ReturnType<typeof setInterval> | undefined;
  /** Set once this instance stops taking jobs. */
  #stopping = false;
  #worker: Worker<QueuedJob> | undefined;
  #workerClient: Redis | undefined;
  #manager: JobManager | undefined;

  private constructor(options: BullmqDispatcherOptions) {
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#prefix = options.prefix ?? "qf:bull";
    this.#member = `${crypto.randomUUID()}|${options.concurrency}`;
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
  }

  /** Connects and applies the global concurrency cap. */
  static async create(options: BullmqDispatcherOptions): Promise<BullmqDispatcher> {
    const dispatcher = new BullmqDispatcher(options);
    try {
      await withTimeout(dispatcher.#commands.connect(), 5_000);
      await withTimeout(dispatcher.#cancels.connect(), 5_000);
      await withTimeout(dispatcher.#cancels.subscribe(dispatcher.#channel()), 5_000);
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

  /**
   * Starts this instance's worker, which runs jobs through `manager`, and adds its running slots
   * to the admission count. Call `close` if it rejects.
   */
  async start(manager: JobManager): Promise<void> {
    this.#manager = manager;
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
        this.#endDropped(job.data.id, error.message).catch((cause) =>
          this.#logger.log("error", "dropped job not ended", {
            job: job.data.id,
            error: describeError(cause),
          })
        );
      }
    });
    // Its slots count while it renews its lease, and a while after it dies.
    const leaseMs = Math.max(2 * lockMs, MIN_LEASE_MS);
    const renew = () =>
      withTimeout(this.#commands.eval(RENEW, 1, this.#workersKey(), this.#member, leaseMs));
    await renew();
    this.#renewTimer = setInterval(() => {
      renew().catch((error) =>
        this.#logger.log("warn", "lease not renewed", { error: describeError(error) })
      );
    }, Math.floor(leaseMs / 4));
  }

  async admit(id: string): Promise<void> {
    const queue = this.#queue;
    const admitted = await withTimeout(this.#commands.eval(
      ADMIT,
      8,
      ...["wait", "active", "paused", "delayed", "prioritized", "meta"].map((l) => queue.toKey(l)),
      this.#workersKey(),
      this.#reservationsKey(),
      id,
      this.#options.maxQueued,
      RESERVATION_MS,
      queue.toKey(""), // a job's hash is this plus its id
    ));
    if (admitted !== 1) throw new QueueFullError(this.#options.maxQueued, 5);
  }

  async withdraw(id: string): Promise<void> {
    await withTimeout(this.#commands.zrem(this.#reservationsKey(), id));
  }

  /** Jobs waiting in the shared line, and running on any instance. */
  async counts(): Promise<{ waiting: number; running: number }> {
    const [waiting, running] = await Promise.all([
      withTimeout(this.#queue.getWaitingCount()),
      withTimeout(this.#queue.getActiveCount()),
    ]);
    return { waiting, running };
  }

  async enqueue(record: JobRecord): Promise<void> {
    try {
      await withTimeout(this.#queue.add("article", { id: record.id }, {
        jobId: record.id,
        // Retries are for Redis failing under a run; the job's own failures end in its record.
        attempts: 10,
        backoff: { type: "exponential", delay: 500 },
      }));
    } finally {
      // Counted in BullMQ's lists from now on (or never to be): the reservation is done.
      await this.withdraw(record.id).catch(() => {});
    }
  }

  async cancel(id: string, reason: string): Promise<JobRecord | null> {
    // The flag covers a job that resumes after a hand-over, when no one heard the message.
    await withTimeout(this.#commands.set(this.#flagKey(id), reason, "PX", CANCEL_FLAG_MS));
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
    await withTimeout(this.#commands.publish(this.#channel(), JSON.stringify({ id, reason })));
    return null;
  }

  /**
   * Stops taking jobs and takes this instance's slots out of the admission count; resolves once
   * the jobs this instance runs have ended.
   */
  async stopTaking(): Promise<void> {
    this.#stopping = true;
    const closed = this.#worker?.close();
    await this.#leave();
    await closed;
  }

  /** Stops the worker and releases the connections. */
  async close(): Promise<void> {
    await this.#leave();
    await this.#worker?.close().catch(() => {});
    await this.#queue.close().catch(() => {});
    for (const client of [this.#commands, this.#cancels, this.#queueClient, this.#workerClient]) {
      if (client) await closeClient(client);
    }
  }

  async #process(job: Job<QueuedJob>, token: string | undefined): Promise<void> {
    const id = job.data.id;
    const manager = this.#manager as JobManager;
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
    const done = manager.execute(record, { voidStreams });
    this.#running.add(id);
    try {
      const reason = await this.#commands.get(this.#flagKey(id)).catch(() => null);
      if (reason !== null) await manager.cancel(id, reason).catch(() => {});
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

  /** Ends the log of a job the queue gave up on, so its clients are not left waiting. */
  async #endDropped(id: string, reason: string): Promise<void> {
    const store = this.#options.store;
    const record = await store.get(id);
    if (!record || FINISHED_STATUSES.has(record.status)) return;
    const message = `The job could not be run to its end: ${reason}`;
    const event = { id: record.lastEventId + 1, type: "error" as const, data: { message } };
    Object.assign(record, {
      status: "failed",
      error: message,
      finishedAt: Date.now(),
      lastEventId: event.id,
    });
    await store.append(id, event);
    await store.put(record);
  }

  /** Takes this instance's running slots out of the admission count, if they are in it. */
  async #leave(): Promise<void> {
    if (this.#renewTimer === undefined) return;
    clearInterval(this.#renewTimer);
    this.#renewTimer = undefined;
    await withTimeout(this.#commands.zrem(this.#workersKey(), this.#member)).catch(() => {});
  }

  /** Acts on a cancel request published by another instance; anything else is ignored. */
  #onCancelMessage(message: string): void {
    let request: { id?: unknown; reason?: unknown } | undefined;
    try {
      request = JSON.parse(message);
    } catch {
      request = undefined;
    }
    const id = request?.id;
    const reason = request?.reason;
    if (typeof id !== "string" || typeof reason !== "string") {
      this.#logger.log("warn", "cancel message ignored", { message: message.slice(0, 200) });
      return;
    }
    // Only the instance running it acts; the others would bounce the request around.
    if (!this.#running.has(id)) return;
    this.#manager?.cancel(id, reason).catch(() => {});
  }

  #channel(): string {
    return `${this.#prefix}:cancel`;
  }

  #workersKey(): string {
    return `${this.#prefix}:admission:workers`;
  }

  #reservationsKey(): string {
    return `${this.#prefix}:admission:reserved`;
  }

  #flagKey(id: string): string {
    return `${this.#prefix}:cancel:${id}`;
  }
}
