/**
 * Which finished jobs are kept: each for `ttlMs` after it finished, and at most `maxRetained`
 * of them, the oldest going first. The store forgets the rest.
 *
 * @module
 */

import { type Clock, systemClock } from "../core/clock.ts";

/** Settings of a {@linkcode Retention}. */
export interface RetentionOptions {
  /** How long a finished job is kept, in ms. */
  ttlMs: number;
  /** Finished jobs kept at most. */
  maxRetained: number;
  /** Forgets job `id`. */
  evict: (id: string) => void;
  /** Time source. */
  clock?: Clock;
}

/**
 * Finished jobs in the order they finished, evicted by age and by count.
 *
 * @example
 * ```ts
 * import { Retention } from "./retention.ts";
 * import assert from "node:assert/strict";
 *
 * const evicted: string[] = [];
 * const retention = new Retention({
 *   ttlMs: 1_000, maxRetained: 1, evict: (id) => evicted.push(id), clock: { now: () => 0 },
 * });
 * retention.add("a", 0);
 * retention.add("b", 0); // one too many: the oldest goes
 * assert.deepEqual(evicted, ["a"]);
 * retention.close();
 * ```
 */
export class Retention {
  readonly #ttlMs: number;
  readonly #maxRetained: number;
  readonly #evict: (id: string) => void;
  readonly #clock: Clock;
  readonly #finished: { id: string; at: number }[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  /** Creates an empty retention. */
  constructor(options: RetentionOptions) {
    this.#ttlMs = options.ttlMs;
    this.#maxRetained = options.maxRetained;
    this.#evict = options.evict;
    this.#clock = options.clock ?? systemClock;
  }

  /** Finished jobs kept at most. */
  get maxRetained(): number {
    return this.#maxRetained;
  }

  /** Finished jobs kept now. */
  get size(): number {
    return this.#finished.length;
  }

  /** Keeps job `id`, finished at `at` (epoch ms); jobs may come in any order. */
  add(id: string, at: number): void {
    const last = this.#finished.at(-1);
    this.#finished.push({ id, at });
    if (last && last.at > at) this.#finished.sort((a, b) => a.at - b.at);
    if (this.#finished.length > this.#maxRetained) this.evictDue();
    this.#schedule();
  }

  /** Stops keeping job `id` (it was never accepted). */
  remove(id: string): void {
    const at = this.#finished.findIndex((entry) => entry.id === id);
    if (at !== -1) this.#finished.splice(at, 1);
  }

  /** Evicts what is past its time or beyond the count now. */
  evictDue(): void {
    const cutoff = this.#clock.now() - this.#ttlMs;
    while (this.#finished.length > 0) {
      const oldest = this.#finished[0] as { id: string; at: number };
      if (oldest.at > cutoff && this.#finished.length <= this.#maxRetained) break;
      this.#finished.shift();
      this.#evict(oldest.id);
    }
    if (this.#finished.length === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Stops the timer; nothing is evicted after. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#closed || this.#finished.length === 0) return;
    const every = Math.min(60_000, Math.max(10, this.#ttlMs / 4));
    const timer = setInterval(() => this.evictDue(), every);
    // Eviction serves a running service; it must not keep a finished process alive.
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }
}
