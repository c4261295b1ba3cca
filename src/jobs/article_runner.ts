/**
 * Runs article jobs in this process: the workflow for each job, its events through the job's
 * log (`job_log.ts`), streamed text through the delta coalescer, its end, and what shutdown does
 * to it (the dispatcher's policy). Knows nothing of admission or of who chose to run the job.
 *
 * @module
 */

import { type Clock, systemClock } from "../core/clock.ts";
import { describeError } from "../core/describe_error.ts";
import type { JobRecord, StepName } from "../core/job.ts";
import type { JobStore } from "../core/job_store.ts";
import { type Logger, silentLogger } from "../core/logger.ts";
import { ReleasingMap } from "../core/releasing_map.ts";
import type { LlmClient } from "../llm/llm_client.ts";
import {
  type ArticleFlowOptions,
  type ArticleReporter,
  type ArticleState,
  createArticleFlow,
} from "../workflow/article_flow.ts";
import { DeltaCoalescer } from "./delta_coalescer.ts";
import { flatText } from "../core/flat_text.ts";
import type {
  ExecuteOptions,
  JobRunner,
  RunOutcome,
  RunPolicy,
  ShutdownPolicy,
} from "./job_dispatcher.ts";
import { JobLog } from "./job_log.ts";
import type { StatusCounts } from "./status_counts.ts";
import { UsageMeter } from "./job_usage.ts";
import type { LlmPrices } from "../llm/llm_prices.ts";

/** Settings of an {@linkcode ArticleRunner}. */
export interface ArticleRunnerOptions {
  /** Records and event logs. */
  store: JobStore;
  /** Who writes the text. */
  llm: LlmClient;
  /** The dispatcher's policy for shutdown and failed writes. */
  policy: RunPolicy;
  /** Moved on each status change. */
  counts: StatusCounts;
  /** Called once a job has ended, for retention. */
  onFinished: (record: JobRecord) => void;
  /** Told of each job's end in the turn of its write (see `JobLogOptions.onEnd`). */
  onEnd?: (record: JobRecord) => void;
  /** Settings of the article workflow. */
  flow?: ArticleFlowOptions;
  /** Prices per model, for each job's `costUsd`; a model not listed has an unknown cost. */
  llmPrices?: LlmPrices;
  /** Streamed text is gathered for this long into one `delta` event, in ms. Default 50. */
  deltaFlushMs?: number;
  /** Time source. */
  clock?: Clock;
  /** Structured logs. */
  logger?: Logger;
}

/** One job running here. */
class Run {
  readonly log: JobLog;
  readonly controller = new AbortController();
  done: Promise<void> = Promise.resolve();
  /** Stopped by shutdown, left unfinished in a durable store, for the next start to resume. */
  suspended = false;
  /** Stopped by shutdown, unfinished, for another instance to resume: it writes nothing more. */
  released = false;
  /** Its tokens, cost and step times, once it runs. */
  meter: UsageMeter | undefined;

  constructor(log: JobLog) {
    this.log = log;
  }
}

/** Runs jobs' workflows here, for whichever dispatcher chose this process. */
export class ArticleRunner implements JobRunner {
  readonly #store: JobStore;
  readonly #llm: LlmClient;
  readonly #policy: RunPolicy;
  readonly #counts: StatusCounts;
  readonly #onFinished: (record: JobRecord) => void;
  readonly #onEnd: ((record: JobRecord) => void) | undefined;
  readonly #flowOptions: ArticleFlowOptions;
  readonly #prices: LlmPrices;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #deltas: DeltaCoalescer<JobLog>;
  readonly #runs = new ReleasingMap<string, Run>();

  /** Creates a runner; nothing runs until `execute`. */
  constructor(options: ArticleRunnerOptions) {
    this.#store = options.store;
    this.#llm = options.llm;
    this.#policy = options.policy;
    this.#counts = options.counts;
    this.#onFinished = options.onFinished;
    this.#onEnd = options.onEnd;
    this.#flowOptions = options.flow ?? {};
    this.#prices = options.llmPrices ?? {};
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#deltas = new DeltaCoalescer<JobLog>({
      flushMs: options.deltaFlushMs ?? 50,
      keyOf: (log) => log.serial,
      write: (log, { step, index, text }) =>
        log.append("delta", {
          step,
          ...(index === undefined ? {} : { index }),
          text: flatText(text),
        }),
    });
  }

  /** Jobs running here now. */
  get running(): number {
    return this.#runs.size;
  }

  /** The record of job `id` if it runs here. */
  get(id: string): JobRecord | undefined {
    return this.#runs.get(id)?.log.record;
  }

  /** A log writer for job `record`, counted and policed like a run's. */
  logOf(record: JobRecord, onUnsaved?: () => void): JobLog {
    return new JobLog(record, {
      store: this.#store,
      counts: this.#counts,
      logger: this.#logger,
      stopWhenUnsaved: this.#policy.stopWhenUnsaved,
      ...(onUnsaved ? { onUnsaved } : {}),
      ...(this.#onEnd ? { onEnd: this.#onEnd } : {}),
    });
  }

  async execute(record: JobRecord, options: ExecuteOptions = {}): Promise<RunOutcome> {
    const run: Run = new Run(this.logOf(record, () => {
      // Its log cannot grow: stop paying for the run; the dispatcher runs it again later.
      if (run.log.sealed) run.controller.abort(new DOMException("unsaved", "AbortError"));
    }));
    this.#runs.set(record.id, run);
    if (options.fromSharedLine) this.#counts.move(undefined, record.status);
    try {
      run.done = this.#run(run, options);
      await run.done;
      // Whether all was stored matters only where an unsaved run is run again; elsewhere the
      // job's place is free as soon as it ends, not a group commit later.
      if (this.#policy.stopWhenUnsaved) await run.log.lastWrite;
      return run.released ? "released" : run.log.unsaved ? "unsaved" : "ended";
    } finally {
      this.#deltas.forget(run.log);
      if (this.#runs.get(record.id) === run) this.#runs.delete(record.id);
    }
  }

  cancelRun(id: string, reason: string): JobRecord | undefined {
    const run = this.#runs.get(id);
    if (!run || run.log.finished) return undefined;
    this.finish(run.log, "cancelled", { reason }, run.meter);
    run.controller.abort(new DOMException(reason, "AbortError"));
    return run.log.record;
  }

  async endWaiting(record: JobRecord, reason: string): Promise<JobRecord> {
    const log = this.logOf(record);
    this.finish(log, "cancelled", { reason });
    await log.lastWrite;
    return record;
  }

  /**
   * Ends job `log.record` as `status`: flushes its text, writes the terminal event (`error` or
   * `cancelled`; `complete` is written by the run, with the article), and hands it to retention.
   * A run's `meter` says what a step cut short by the end took, before the end.
   */
  finish(
    log: JobLog,
    status: "completed" | "failed" | "cancelled",
    data: Record<string, unknown>,
    meter?: UsageMeter,
  ): void {
    const record = log.record;
    if (log.finished) return;
    // A step cut short by the end still took time and tokens: say so before the end.
    if (meter?.stopAll()) this.#emit(log, "usage", { step: record.step, ...meter.summary() });
    this.#deltas.flush(log);
    record.finishedAt = this.#clock.now();
    // Only an unfinished job goes on from its checkpoint; a finished one's log has it all.
    delete record.checkpoint;
    log.setStatus(status);
    if (status === "failed") {
      record.error = String(data.message);
      log.append("error", data);
    } else if (status === "cancelled") {
      log.append("cancelled", {});
    }
    this.#logger.log(status === "failed" ? "warn" : "info", `job ${status}`, {
      job: record.id,
      ...(record.error ? { error: record.error } : {}),
      ms: record.finishedAt - (record.startedAt ?? record.createdAt),
    });
    this.#onFinished(record);
  }

  /** Tells clients to drop the text streamed so far for `step` (and section `index`). */
  voidText(log: JobLog, step: StepName, index: number | undefined): void {
    log.append("delta", {
      step,
      ...(index === undefined ? {} : { index }),
      text: "",
      reset: true,
    });
  }

  /**
   * Gives running jobs up to `graceMs` to end, then stops the rest as `policy` says: cancelled,
   * suspended for the next start, or released for another instance. Resolves once they stopped.
   */
  async stopAll(policy: ShutdownPolicy, graceMs: number): Promise<void> {
    const running = [...this.#runs.values()].map((run) => run.done);
    if (running.length > 0 && graceMs > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled(running),
        new Promise((resolve) => timer = setTimeout(resolve, graceMs)),
      ]);
      clearTimeout(timer);
    }
    for (const run of [...this.#runs.values()]) {
      if (run.log.finished) continue;
      if (policy === "release") this.#release(run);
      else if (policy === "suspend") this.#suspend(run);
      else this.cancelRun(run.log.record.id, "The service shut down before the job finished");
    }
    await Promise.allSettled(running);
    this.#deltas.close();
  }

  /** Another instance can finish it: stop without an end, rather than cancel it. */
  #release(run: Run): void {
    this.#deltas.flush(run.log);
    run.released = true;
    run.log.sealed = true;
    run.controller.abort(new DOMException("Handed to another instance", "AbortError"));
    this.#logger.log("info", "job released", { job: run.log.record.id });
  }

  #suspend(run: Run): void {
    const record = run.log.record;
    run.suspended = true;
    record.suspended = true;
    this.#deltas.flush(run.log);
    this.#store.put(record).catch((error) =>
      this.#logger.log("error", "job not stored", { job: record.id, error: describeError(error) })
    );
    run.controller.abort(new DOMException("The service shut down", "AbortError"));
    this.#logger.log("info", "job suspended", { job: record.id });
  }

  async #run(run: Run, options: ExecuteOptions): Promise<void> {
    const { log, controller } = run;
    const record = log.record;
    if (record.status === "running") {
      // Resumed after its instance died: clients saw it start; only void what it left half-said.
      this.#logger.log("info", "job resumed", { job: record.id });
      for (const { step, index } of options.voidStreams ?? []) this.voidText(log, step, index);
    } else {
      record.startedAt ??= this.#clock.now();
      // A resumed job with a saved outline goes straight on to its sections.
      record.step = record.checkpoint?.sections ? "content" : "outline";
      log.setStatus("running");
      this.#emit(log, "status", { status: "running", progress: record.progress });
      this.#logger.log("info", "job started", { job: record.id });
    }
    const meter = new UsageMeter(
      record,
      record.model === null ? undefined : this.#prices[record.model],
      this.#clock,
    );
    run.meter = meter;
    const state: ArticleState = { topic: record.topic };
    if (record.checkpoint?.sections) state.sections = [...record.checkpoint.sections];
    if (record.checkpoint?.contents) state.contents = [...record.checkpoint.contents];
    try {
      await createArticleFlow(this.#llm, this.#reporter(log, state, meter), this.#flowOptions)
        .run(state, { signal: controller.signal });
      // Cancelled as it finished, or another run continues it.
      if (log.finished || log.sealed) return;
      this.finish(log, "completed", {}, meter);
      const article = state.article ?? "";
      this.#emit(log, "complete", {
        progress: 100,
        article,
        sections: state.sections ?? [],
        ...meter.summary(),
      });
    } catch (error) {
      // Cancelled (already reported), left for the next start, or another run continues it.
      if (log.finished || run.suspended || log.sealed) return;
      const step = record.step;
      const message = `${step ? `The ${step} step failed: ` : ""}${describeError(error)}`;
      this.finish(log, "failed", { message, ...(step ? { step } : {}) }, meter);
    }
  }

  #reporter(log: JobLog, state: ArticleState, meter: UsageMeter): ArticleReporter {
    const record = log.record;
    const checkpoint = () => {
      if (log.finished) return;
      record.checkpoint = {
        ...(state.sections ? { sections: state.sections } : {}),
        ...(state.contents ? { contents: state.contents } : {}),
      };
    };
    return {
      outline: (sections) => {
        record.sections = sections;
        checkpoint();
        this.#emit(log, "progress", { step: "outline", progress: 33, sections });
        record.step = "content";
      },
      sectionWritten: (index, section, completed, total) => {
        checkpoint();
        this.#emit(log, "progress", {
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
        this.#emit(log, "progress", { step: "style", progress: 66, stage: "started" });
      },
      styleFinished: () => {
        this.#emit(log, "progress", { step: "style", progress: 99, stage: "finished" });
      },
      delta: (step, index, text) => {
        if (!log.finished) this.#deltas.add(log, step, index, text);
      },
      restart: (step, index) => {
        if (this.#deltas.restart(log, step, index)) this.voidText(log, step, index);
      },
      // Accounting stops with the job: a cancelled call that ends later is not added.
      stepStarted: (step) => {
        if (!log.finished) meter.started(step);
      },
      stepFinished: (step) => {
        if (log.finished) return;
        meter.finished(step);
        this.#emit(log, "usage", { step, ...meter.summary() });
      },
      llmAttempt: (step, usage) => {
        if (!log.finished) meter.attempt(step, usage);
      },
    };
  }

  /** Appends an event after the text gathered before it, so the log keeps their order. */
  #emit(
    log: JobLog,
    type: "status" | "progress" | "usage" | "complete",
    data: Record<string, unknown>,
  ) {
    this.#deltas.flush(log);
    log.append(type, data);
  }
}
