/**
 * The in-process dispatcher: admission with a fixed number of places, a FIFO waiting line and a
 * limit of jobs running at once, all in this process.
 *
 * @module
 */

import type { JobRecord } from "../core/job.ts";
import { ReleasingMap } from "../core/releasing_map.ts";
import { Admission, type AdmissionTicket } from "./admission.ts";
import type { ExecuteOptions, JobDispatcher, JobRunner, RunPolicy } from "./job_dispatcher.ts";

/** Settings of a {@linkcode LocalDispatcher}. */
export interface LocalDispatcherOptions {
  /** Jobs running at once. */
  running: number;
  /** Jobs waiting beyond those running; 0 for no waiting line. */
  waiting: number;
  /** Whether the store keeps jobs across restarts: then shutdown leaves them to resume. */
  durable: boolean;
}

interface Waiting {
  record: JobRecord;
  options: ExecuteOptions;
}

/**
 * Runs jobs in this process, first come first served.
 *
 * @example
 * ```ts
 * import { LocalDispatcher } from "./local_dispatcher.ts";
 * import { QueueFullError } from "./admission.ts";
 * import assert from "node:assert/strict";
 *
 * const dispatcher = new LocalDispatcher({ running: 1, waiting: 0, durable: false });
 * const first = dispatcher.admit("a"); // the place is taken now, before any await
 * await assert.rejects(dispatcher.admit("b"), QueueFullError);
 * await first;
 * dispatcher.withdraw("a");
 * await dispatcher.admit("b");
 * ```
 */
export class LocalDispatcher implements JobDispatcher {
  readonly policy: RunPolicy;
  readonly #admission: Admission;
  readonly #maxRunning: number;
  // Long-lived maps with an entry per job: see `ReleasingMap` for why not `Map` (or an array
  // used as a queue, whose discarded backing stores do the same).
  readonly #tickets = new ReleasingMap<string, AdmissionTicket>();
  /** The line, first come first, by job id. */
  readonly #line = new ReleasingMap<string, Waiting>();
  #running = 0;
  #stopped = false;
  #runner: JobRunner | undefined;

  /** Creates the dispatcher; jobs run once a runner is attached. */
  constructor(options: LocalDispatcherOptions) {
    this.#admission = new Admission({ running: options.running, waiting: options.waiting });
    this.#maxRunning = options.running;
    this.policy = {
      atShutdown: options.durable ? "suspend" : "cancel",
      stopWhenUnsaved: false,
    };
  }

  get waiting(): number {
    return this.#line.size;
  }

  /** Jobs this dispatcher runs now. */
  get running(): number {
    return this.#running;
  }

  attach(runner: JobRunner): void {
    this.#runner = runner;
  }

  admit(id: string): Promise<void> {
    // Synchronous: submits of one burst see each other's places.
    try {
      this.#tickets.set(id, this.#admission.take());
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  peek(id: string): JobRecord | undefined {
    return this.#line.get(id)?.record;
  }

  withdraw(id: string): void {
    this.#tickets.get(id)?.release();
    this.#tickets.delete(id);
  }

  enqueue(record: JobRecord): Promise<"here"> {
    this.#line.set(record.id, { record, options: {} });
    this.#dispatch();
    return Promise.resolve("here");
  }

  requeue(record: JobRecord, options: ExecuteOptions = {}): void {
    if (!this.#tickets.has(record.id)) this.#tickets.set(record.id, this.#admission.force());
    this.#line.set(record.id, { record, options });
    this.#dispatch();
  }

  async cancel(id: string, reason: string): Promise<JobRecord | undefined> {
    const record = this.#line.get(id)?.record;
    if (!record) return undefined;
    this.#line.delete(id);
    this.withdraw(id);
    return await this.#attached().endWaiting(record, reason);
  }

  async stopTaking(): Promise<void> {
    this.#stopped = true;
    const line = [...this.#line.values()];
    this.#line.clear();
    for (const { record } of line) this.withdraw(record.id);
    // Left as they are in a durable store, for the next start; else nothing would run them.
    if (this.policy.atShutdown !== "cancel") return;
    for (const { record } of line) {
      await this.#attached().endWaiting(record, "The service shut down").catch(() => {});
    }
  }

  close(): Promise<void> {
    this.#stopped = true;
    return Promise.resolve();
  }

  #attached(): JobRunner {
    if (!this.#runner) throw new TypeError("Cannot run jobs: no runner is attached");
    return this.#runner;
  }

  #dispatch(): void {
    while (!this.#stopped && this.#running < this.#maxRunning && this.#line.size > 0) {
      const id = this.#line.keys().next().value as string;
      const { record, options } = this.#line.get(id) as Waiting;
      this.#line.delete(id);
      this.#running++;
      this.#attached().execute(record, options).catch(() => "ended").finally(() => {
        this.#running--;
        this.withdraw(record.id);
        this.#dispatch();
      });
    }
  }
}
