/**
 * Many timed calls on one runtime timer: the timers a job sets by the dozen (the offline
 * writer's ticks, the delta batches, each LLM attempt's time limit) go through here.
 *
 * Why not `setTimeout` for each: Deno keeps every pending timer in one long-lived `Map` by id,
 * and such a map's rebuilt tables keep what they held alive until a full collection (see
 * `releasing_map.ts`). A timer's callback reaches its job (through the promise it settles and
 * the job's abort signal), so every job that had a timer pending was copied and promoted by the
 * young-generation collector, and its pauses grew with them. Here the pending calls sit in an
 * array heap whose slots are cleared as they leave it, and one runtime timer is armed for the
 * earliest.
 *
 * @module
 */

/** A call waiting in a {@linkcode TimerQueue}; hand it to `cancel` to drop it. */
export interface Scheduled {
  /** When it is due, on `performance.now()`'s clock. */
  readonly at: number;
  /** Ties at the same time go in the order they were scheduled. */
  readonly seq: number;
  /** The call; `null` once it ran or was cancelled. */
  fn: (() => void) | null;
  /** Its place in the heap. */
  pos: number;
}

/**
 * Timed calls in a binary heap, served by one runtime timer. A call that throws is reported as
 * an uncaught error (`reportError`), as a throwing timer callback is, after the calls due with it
 * have run.
 *
 * @example
 * ```ts
 * import { TimerQueue } from "./timer_queue.ts";
 * import assert from "node:assert/strict";
 *
 * const timers = new TimerQueue();
 * const order: string[] = [];
 * const done = Promise.withResolvers<void>();
 * timers.schedule(20, () => {
 *   order.push("later");
 *   done.resolve();
 * });
 * timers.schedule(5, () => order.push("sooner"));
 * timers.cancel(timers.schedule(10, () => order.push("cancelled")));
 * await done.promise;
 * assert.deepEqual(order, ["sooner", "later"]);
 * assert.equal(timers.size, 0);
 * ```
 */
export class TimerQueue {
  /**
   * The heap, in `#heap[0 .. #size)`. The array only grows: a slot that leaves is cleared, not
   * popped, since an array that shrinks and grows again drops its old backing store with what it
   * held, which the young-generation collector keeps alive like a rebuilt `Map` table's.
   */
  readonly #heap: (Scheduled | undefined)[] = [];
  #size = 0;
  #seq = 0;
  #native: ReturnType<typeof setTimeout> | undefined;
  #nativeAt = Infinity;

  /** How many calls wait. */
  get size(): number {
    return this.#size;
  }

  /** Calls `fn` once, `ms` from now (at once for 0, negative or `NaN`). */
  schedule(ms: number, fn: () => void): Scheduled {
    const wait = ms > 0 ? ms : 0;
    const entry: Scheduled = { at: performance.now() + wait, seq: this.#seq++, fn, pos: 0 };
    const heap = this.#heap;
    entry.pos = this.#size++;
    heap[entry.pos] = entry;
    this.#up(entry.pos);
    if (entry.pos === 0) this.#arm();
    return entry;
  }

  /** Drops `entry` if it has not run; nothing happens otherwise. */
  cancel(entry: Scheduled): void {
    if (entry.fn === null) return;
    entry.fn = null;
    this.#removeAt(entry.pos);
    // The runtime timer may stay armed for an earlier time: it finds nothing due and re-arms.
    // With nothing left it stops, so that no timer keeps the process (or a test) waiting.
    if (this.#size === 0) this.#disarm();
  }

  #before(a: Scheduled, b: Scheduled): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #place(entry: Scheduled, pos: number): void {
    this.#heap[pos] = entry;
    entry.pos = pos;
  }

  #up(pos: number): void {
    const heap = this.#heap;
    const entry = heap[pos] as Scheduled;
    while (pos > 0) {
      const parentPos = (pos - 1) >> 1;
      const parent = heap[parentPos] as Scheduled;
      if (!this.#before(entry, parent)) break;
      this.#place(parent, pos);
      pos = parentPos;
    }
    this.#place(entry, pos);
  }

  #down(pos: number): void {
    const heap = this.#heap;
    const entry = heap[pos] as Scheduled;
    for (;;) {
      let childPos = 2 * pos + 1;
      if (childPos >= this.#size) break;
      const right = childPos + 1 < this.#size ? heap[childPos + 1] : undefined;
      if (right !== undefined && this.#before(right, heap[childPos] as Scheduled)) childPos++;
      const child = heap[childPos] as Scheduled;
      if (!this.#before(child, entry)) break;
      this.#place(child, pos);
      pos = childPos;
    }
    this.#place(entry, pos);
  }

  #removeAt(pos: number): void {
    const heap = this.#heap;
    const last = heap[--this.#size] as Scheduled;
    heap[this.#size] = undefined;
    if (pos >= this.#size) return;
    this.#place(last, pos);
    this.#up(pos);
    this.#down(last.pos);
  }

  #arm(): void {
    const first = this.#heap[0];
    if (first === undefined) return this.#disarm();
    if (this.#native !== undefined && this.#nativeAt <= first.at) return;
    if (this.#native !== undefined) clearTimeout(this.#native);
    this.#nativeAt = first.at;
    // Never negative: the runtime warns of a negative delay (and takes 1 ms).
    this.#native = setTimeout(() => this.#fire(), Math.max(0, first.at - performance.now()));
  }

  #disarm(): void {
    if (this.#native !== undefined) clearTimeout(this.#native);
    this.#native = undefined;
    this.#nativeAt = Infinity;
  }

  #fire(): void {
    this.#native = undefined;
    this.#nativeAt = Infinity;
    // The runtime rounds timers to whole ms: a call due within the next ms runs now.
    const now = performance.now() + 1;
    const heap = this.#heap;
    let first = heap[0];
    while (first !== undefined && first.at <= now) {
      this.#removeAt(0);
      const fn = first.fn as () => void;
      first.fn = null;
      try {
        fn();
      } catch (error) {
        reportError(error);
      }
      first = heap[0];
    }
    this.#arm();
  }
}

/** The process's queue, shared by the job core's timers. */
export const timerQueue: TimerQueue = new TimerQueue();
