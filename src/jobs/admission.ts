/**
 * Admission of jobs into one process: a fixed number of places, one per job running or waiting,
 * taken and given back synchronously. A submit takes its place before its first await, so a
 * burst of submits in one tick cannot take more places than there are, whatever the store.
 *
 * The rule, the same in every mode: a submit is refused when every running slot is busy and
 * `MAX_QUEUED_JOBS` jobs already wait; `MAX_QUEUED_JOBS=0` means no waiting line at all.
 *
 * @module
 */

/** Thrown when the waiting line is full; try again after `retryAfterSeconds`. */
export class QueueFullError extends Error {
  /** A hint for clients, in seconds. */
  readonly retryAfterSeconds: number;
  /** Creates the error for a waiting line of `limit` jobs. */
  constructor(limit: number, retryAfterSeconds: number) {
    super(`Too many jobs waiting (limit ${limit}); try again later`);
    this.name = "QueueFullError";
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** One job's place; `release` gives it back (a second call does nothing). */
export interface AdmissionTicket {
  /** Gives the place back. */
  release(): void;
}

/** Settings of an {@linkcode Admission}. */
export interface AdmissionOptions {
  /** Jobs that run at once. */
  running: number;
  /** Jobs that may wait beyond those running; 0 for no waiting line. */
  waiting: number;
  /** The `Retry-After` hint of a refusal, in seconds. Default 5. */
  retryAfterSeconds?: number;
}

/**
 * The places of one process: `running + waiting` jobs at most, each holding a ticket from the
 * moment it is submitted until it leaves (ends, is cancelled while waiting, or is refused).
 *
 * @example
 * ```ts
 * import { Admission, QueueFullError } from "./admission.ts";
 * import assert from "node:assert/strict";
 *
 * const admission = new Admission({ running: 1, waiting: 1 });
 * const first = admission.take();
 * admission.take();
 * assert.throws(() => admission.take(), QueueFullError);
 * first.release();
 * first.release(); // once only
 * assert.equal(admission.held, 1);
 * ```
 */
export class Admission {
  readonly #capacity: number;
  readonly #waiting: number;
  readonly #retryAfterSeconds: number;
  #held = 0;

  /** Creates the places for `options.running` jobs running and `options.waiting` waiting. */
  constructor(options: AdmissionOptions) {
    this.#capacity = options.running + options.waiting;
    this.#waiting = options.waiting;
    this.#retryAfterSeconds = options.retryAfterSeconds ?? 5;
  }

  /** Places taken now. */
  get held(): number {
    return this.#held;
  }

  /** Takes a place, or throws {@linkcode QueueFullError} when none is free. */
  take(): AdmissionTicket {
    if (this.#held >= this.#capacity) {
      throw new QueueFullError(this.#waiting, this.#retryAfterSeconds);
    }
    return this.force();
  }

  /**
   * Takes a place even when none is free: for jobs taken up after a restart, which were
   * admitted before it. New submits are refused until enough of them have left.
   */
  force(): AdmissionTicket {
    this.#held++;
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        this.#held--;
      },
    };
  }
}
