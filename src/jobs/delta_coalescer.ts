/**
 * Gathers the LLM's streamed text into `delta` events: one per text stream about every
 * `flushMs`, or sooner once a stream holds `maxChars`. One timer serves every job: a timer per
 * job per chunk would cost more than the text it carries.
 *
 * @module
 */

import type { StepName } from "../core/job.ts";
import { streamKey } from "../core/unfinished_text.ts";

/** Text gathered for one stream (`step`, and the section `index` for `content`). */
export interface Delta {
  /** The step writing it. */
  step: StepName;
  /** The section, for the content step. */
  index: number | undefined;
  /** The text since the last flush. */
  text: string;
}

/** Settings of a {@linkcode DeltaCoalescer}. */
export interface DeltaCoalescerOptions<T> {
  /** Text waits at most this long, in ms; 0 writes each chunk at once. */
  flushMs: number;
  /** A stream holding this many characters is written at once. Default 2 048. */
  maxChars?: number;
  /** Writes one gathered delta of `target` (a job). */
  write: (target: T, delta: Delta) => void;
}

/**
 * Buffers text per target (a job) and per stream, and hands it to `write` in order.
 *
 * @example
 * ```ts
 * import { DeltaCoalescer } from "./delta_coalescer.ts";
 * import assert from "node:assert/strict";
 *
 * const written: string[] = [];
 * const deltas = new DeltaCoalescer<string>({
 *   flushMs: 1_000,
 *   write: (job, delta) => written.push(`${job}:${delta.text}`),
 * });
 * deltas.add("a", "outline", undefined, "Hel");
 * deltas.add("a", "outline", undefined, "lo");
 * deltas.flush("a");
 * assert.deepEqual(written, ["a:Hello"]);
 * deltas.close();
 * ```
 */
export class DeltaCoalescer<T> {
  readonly #flushMs: number;
  readonly #maxChars: number;
  readonly #write: (target: T, delta: Delta) => void;
  readonly #buffers = new Map<T, Map<string, Delta>>();
  /** Streams that have sent text since they last started over, per target. */
  readonly #streamed = new Map<T, Set<string>>();
  /** Targets holding text for the shared timer. */
  readonly #pending = new Set<T>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Creates an empty coalescer. */
  constructor(options: DeltaCoalescerOptions<T>) {
    this.#flushMs = options.flushMs;
    this.#maxChars = options.maxChars ?? 2_048;
    this.#write = options.write;
  }

  /** Adds `text` to the stream of `step` (and section `index`) of `target`. */
  add(target: T, step: StepName, index: number | undefined, text: string): void {
    const key = streamKey(step, index);
    let streamed = this.#streamed.get(target);
    if (!streamed) this.#streamed.set(target, streamed = new Set());
    streamed.add(key);
    let buffers = this.#buffers.get(target);
    if (!buffers) this.#buffers.set(target, buffers = new Map());
    const buffer = buffers.get(key);
    if (buffer) buffer.text += text;
    else buffers.set(key, { step, index, text });
    // A single large chunk counts too, so events stay about `maxChars` whatever the chunking.
    if (this.#flushMs <= 0 || (buffer ? buffer.text.length : text.length) >= this.#maxChars) {
      this.flush(target);
    } else {
      this.#pending.add(target);
      this.#timer ??= setTimeout(() => this.flushAll(), this.#flushMs);
    }
  }

  /**
   * Drops what the stream of `step` (and `index`) holds, as its call starts over; returns
   * whether it had sent text since it last started, which clients must then drop too.
   */
  restart(target: T, step: StepName, index: number | undefined): boolean {
    const key = streamKey(step, index);
    this.#buffers.get(target)?.delete(key);
    return this.#streamed.get(target)?.delete(key) ?? false;
  }

  /** Writes what `target` holds now, stream by stream. */
  flush(target: T): void {
    this.#pending.delete(target);
    const buffers = this.#buffers.get(target);
    if (!buffers || buffers.size === 0) return;
    const deltas = [...buffers.values()];
    buffers.clear();
    for (const delta of deltas) if (delta.text !== "") this.#write(target, delta);
  }

  /** Writes what every target holds. */
  flushAll(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const targets = [...this.#pending];
    this.#pending.clear();
    for (const target of targets) this.flush(target);
  }

  /** Writes what `target` holds and forgets it: its run is over. */
  forget(target: T): void {
    this.flush(target);
    this.#buffers.delete(target);
    this.#streamed.delete(target);
  }

  /** Writes everything held and stops the timer. */
  close(): void {
    this.flushAll();
  }
}
