/**
 * The promise every write buffered for the next transaction shares: one per batch, however many
 * writes it holds, settled when the batch is in the file or has failed.
 *
 * @module
 */

/**
 * The writers' side of a batch not yet written.
 *
 * @example
 * ```ts
 * import { PendingBatch } from "./pending_batch.ts";
 * import assert from "node:assert/strict";
 *
 * const batch = new PendingBatch();
 * const first = batch.written();
 * assert.equal(batch.written(), first, "one promise per batch");
 * batch.settle();
 * await first;
 * assert.notEqual(batch.written(), first, "the next batch has its own");
 * ```
 */
export class PendingBatch {
  #batch: PromiseWithResolvers<void> | undefined;

  /** Settles when the writes buffered so far are in the file; rejects when that write fails. */
  written(): Promise<void> {
    if (!this.#batch) {
      this.#batch = Promise.withResolvers();
      // Most writers do not wait; a failure is reported through `onError` all the same.
      this.#batch.promise.catch(() => {});
    }
    return this.#batch.promise;
  }

  /** Ends the batch: its writers' promise resolves, or rejects with `error`. */
  settle(error?: unknown): void {
    const batch = this.#batch;
    this.#batch = undefined;
    if (error === undefined) batch?.resolve();
    else batch?.reject(error);
  }
}
