/**
 * Why a store's writes fail, while they do, and how long it waits before trying again: a
 * backoff that doubles from `MIN_RETRY_MS` up to `MAX_RETRY_MS` and starts over once a write
 * succeeds.
 *
 * @module
 */

import { describeError } from "../core/describe_error.ts";

/** The first retry of a failed write, in ms; each failure doubles it, up to `MAX_RETRY_MS`. */
const MIN_RETRY_MS = 50;
/** The longest wait between two tries of a failed write, in ms: a full disk is retried this often. */
const MAX_RETRY_MS = 1_000;

/**
 * The failure state of a store's writes.
 *
 * @example
 * ```ts
 * import { WriteRetry } from "./write_retry.ts";
 * import assert from "node:assert/strict";
 *
 * const retry = new WriteRetry();
 * retry.failed(new Error("disk full"));
 * assert.equal(retry.health(), "cannot write: disk full");
 * assert.deepEqual([retry.nextDelay(), retry.nextDelay()], [50, 100]);
 * retry.recovered();
 * assert.equal(retry.health(), null);
 * ```
 */
export class WriteRetry {
  /** Why the last write failed; `undefined` once one succeeds. */
  #failure: unknown;
  #retryMs = MIN_RETRY_MS;

  /** Whether the last write failed. */
  get failing(): boolean {
    return this.#failure !== undefined;
  }

  /** Notes why a write failed. */
  failed(error: unknown): void {
    this.#failure = error;
  }

  /** How long to wait before the next try, in ms; each call doubles the next one. */
  nextDelay(): number {
    const delay = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, MAX_RETRY_MS);
    return delay;
  }

  /** Notes that writes succeed again (or nothing is left to write). */
  recovered(): void {
    this.#failure = undefined;
    this.#retryMs = MIN_RETRY_MS;
  }

  /** `null` while writes succeed; else why the last one failed. */
  health(): string | null {
    return this.#failure === undefined ? null : `cannot write: ${describeError(this.#failure)}`;
  }
}
