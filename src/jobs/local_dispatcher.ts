/**
 * The in-process dispatcher: admission with a fixed number of places, a FIFO waiting line and a
 * limit of jobs running at once, all in this process.
 *
 * @module
 */

import type { JobRecord } from "../core/job.ts";
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
  readonly #tickets = new Map<string, AdmissionTicket>();
  readonly #line: Waiting[] = [];
  /** The line by job id, for `peek`. */
  readonly #waiting = new Map<string, JobRecord>();
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
    return this.#line.length;
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
    return this.#waiting.get(id);
  }

  withdraw(id: string): void {
    this.#tickets.get(id)?.release();
    this.#tickets.delete(id);
  }

  enqueue(record: JobRecord): Promise<"here"> {
    this.#line.push({ record, options: {} });
    this.#waiting.set(record.id, record);
    this.#dispatch();
    return Promise.resolve("here");
  }

  requeue(record: JobRecord, options: ExecuteOptions = {}): void {
    if (!this.#tickets.has(record.id)) this.#tickets.set(record.id, this.#admission.force());
    this.#line.push({ record, options });
    this.#waiting.set(record.id, record);
    this.#dispatch();
  }

  async cancel(id: string, reason: string): Promise<JobRecord | undefined> {
    const at = this.#line.findIndex((waiting) => waiting.record.id === id);
    if (at === -1) return undefined;
    const [{ record }] = this.#line.splice(at, 1) as [Waiting];
    this.#waiting.delete(id);
    this.withdraw(id);
    return await this.#attached().endWaiting(record, reason);
  }

  async stopTaking(): Promise<void> {
    this.#stopped = true;
    const line = this.#line.splice(0);
    this.#waiting.clear();
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
    while (!this.#stopped && this.#running < this.#maxRunning && this.#line.length > 0) {
      const { record, options } = this.#line.shift() as Waiting;
      this.#waiting.delete(record.id);
      this.#running++;
      this.#attached().execute(record, options).catch(() => "ended").finally(() => {
        this.#running--;
        this.withdraw(record.id);
        this.#dispatch();
      });
    }
  }
}
