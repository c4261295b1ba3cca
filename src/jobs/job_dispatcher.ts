/**
 * The dispatcher seam: whoever decides which process runs a job, and when. The in-process FIFO
 * (`local_dispatcher.ts`) and the BullMQ queue shared by several instances
 * (`bullmq_dispatcher.ts`) implement the same interface; the job manager holds one and never
 * asks which.
 *
 * @module
 */

import type { JobRecord, StepName } from "../core/job.ts";

/** What becomes of a job still running when its process stops. */
export type ShutdownPolicy =
  /** Cancelled: nothing would ever resume it (an in-memory store). */
  | "cancel"
  /** Left unfinished in a durable store, for the next start of this process to resume. */
  | "suspend"
  /** Stopped without an end, for another instance sharing the store to resume at once. */
  | "release";

/** How runs behave where processes share or keep jobs; the dispatcher supplies it. */
export interface RunPolicy {
  /** What shutdown does to running jobs. */
  readonly atShutdown: ShutdownPolicy;
  /**
   * Whether a run whose events could not all be stored stops, for the dispatcher to run the job
   * again (its log cannot grow with gaps); otherwise it goes on and the store catches up.
   */
  readonly stopWhenUnsaved: boolean;
}

/** Options of {@linkcode JobRunner.execute}. */
export interface ExecuteOptions {
  /** Text the interrupted run left half-written; each gets a `reset` delta first. */
  voidStreams?: readonly { step: StepName; index?: number }[];
  /**
   * The job comes from a line shared with other instances: this process counts it from now
   * (one it submitted itself stopped counting when it went to that line).
   */
  fromSharedLine?: boolean;
}

/**
 * How a run ended: `ended` (its terminal event is stored), `released` (stopped by shutdown for
 * another instance), `unsaved` (some events could not be stored; run it again).
 */
export type RunOutcome = "ended" | "released" | "unsaved";

/** What a dispatcher runs jobs with; the job manager's runner implements it. */
export interface JobRunner {
  /**
   * Runs job `record` here; resolves once it has ended (and, where the policy stops unsaved
   * runs, once its events are stored). A record already `running` was interrupted: it resumes
   * from its checkpoint.
   */
  execute(record: JobRecord, options?: ExecuteOptions): Promise<RunOutcome>;
  /** Cancels job `id` if it runs here and returns its record; `undefined` if it does not. */
  cancelRun(id: string, reason: string): JobRecord | undefined;
  /** Writes the `cancelled` end of job `record`, which waited and will never run. */
  endWaiting(record: JobRecord, reason: string): Promise<JobRecord>;
}

/**
 * Admission, the waiting line and hand-over of jobs. Admission is atomic and happens before the
 * submit awaits anything: in process, a place is taken synchronously when `admit` is called; on
 * Redis, one Lua script counts every instance's jobs.
 */
export interface JobDispatcher {
  /** How runs behave at shutdown and when the store fails. */
  readonly policy: RunPolicy;
  /** Jobs waiting in this process's line (0 where the line is shared). */
  readonly waiting: number;
  /** Gives the dispatcher the runner that runs jobs in this process; call once, first. */
  attach(runner: JobRunner): void;
  /**
   * Reserves a place for job `id`; rejects with `QueueFullError` when every running slot is busy
   * and the waiting line is full. The place is the job's until `enqueue` takes it over or
   * `withdraw` gives it back.
   */
  admit(id: string): Promise<void>;
  /**
   * The record of job `id` if it waits in this process's line, so a lookup needs no store read
   * (`undefined` where the line is shared).
   */
  peek(id: string): JobRecord | undefined;
  /** Gives back the place reserved for job `id`, which will not be enqueued. */
  withdraw(id: string): void;
  /**
   * Puts job `record`, stored with its `queued` event, in the line, in the place `admit` took.
   * Resolves with where the line is: `here` (this process's), or `shared` by every instance,
   * which this process then no longer counts the job in.
   */
  enqueue(record: JobRecord): Promise<"here" | "shared">;
  /**
   * Puts job `record`, admitted before a restart, back in the line, even beyond the bound: new
   * submits are refused until enough jobs have left.
   */
  requeue(record: JobRecord, options?: ExecuteOptions): void;
  /**
   * Cancels job `id`, which does not run in this process: ends it if it was waiting, else asks
   * the instance running it. Resolves with its record as it then is (`undefined` if unknown).
   */
  cancel(id: string, reason: string): Promise<JobRecord | undefined>;
  /**
   * Stops taking jobs: waiting ones are cancelled or left for the next start (as the policy
   * says). Resolves once the jobs this process runs have been let go of.
   */
  stopTaking(): Promise<void>;
  /** Releases connections and timers. */
  close(): Promise<void>;
}
