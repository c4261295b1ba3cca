/**
 * Gathers the LLM's streamed text into `delta` events: one per text stream about every
 * `flushMs`, or sooner once a stream holds `maxChars`. A target's text is written `flushMs`
 * after its first chunk since the last write, rounded down to a fifth of `flushMs`: targets that
 * start at different times are written in different turns of the event loop, a few timers
 * serving them all. (One timer per target per chunk would cost more than the text it carries;
 * one shared timer wrote every job's deltas in one turn, 600 of them at 200 paced jobs, and held
 * the loop, every watcher's delivery with it, for that long.)
 *
 * @module
 */

import type { StepName } from "../core/job.ts";
import { ReleasingMap } from "../core/releasing_map.ts";
import { type Scheduled, timerQueue } from "../core/timer_queue.ts";
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
  /**
   * A string or number that stands for `target`, unique among the targets held at once: the
   * key it is held by, so that the coalescer's maps hold no target once it is forgotten.
   */
  keyOf: (target: T) => string | number;
}

/** Flush times are rounded down to this share of `flushMs`: at most this many timers run. */
const SLOTS = 5;

/**
 * Text held for one stream: its chunks, joined once when written (text grown by `+=` is a chain
 * of one object per chunk, each of which a garbage collection in the meantime copies).
 */
interface Held {
  step: StepName;
  index: number | undefined;
  parts: string[];
  length: number;
}

/** One target's streams. */
interface Streams<T> {
  /** Whose streams these are. */
  target: T;
  /** Text held per stream, in the order the streams first sent it since the last write. */
  buffers: Map<string, Held>;
  /** Streams that have sent text since they last started over. */
  streamed: Set<string>;
  /** When its text is due, the key of its slot; `undefined` while it holds none. */
  due: number | undefined;
}

/** The targets due at one time (their keys), and the timer that writes them. */
interface Slot {
  keys: Set<string | number>;
  timer: Scheduled;
}

// A stream's key per chunk, without building the string each time.
const keys = new Map<StepName, string[]>();

function streamOf(step: StepName, index: number | undefined): string {
  let byIndex = keys.get(step);
  if (!byIndex) keys.set(step, byIndex = []);
  const at = index === undefined ? 0 : index + 1;
  return byIndex[at] ??= streamKey(step, index);
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
 *   keyOf: (job) => job,
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
  readonly #sliceMs: number;
  readonly #maxChars: number;
  readonly #write: (target: T, delta: Delta) => void;
  readonly #keyOf: (target: T) => string | number;
  // Long-lived maps with an entry per job: see `ReleasingMap` for why not `Map`.
  readonly #targets = new ReleasingMap<string | number, Streams<T>>();
  /** Targets holding text, by when it is due. */
  readonly #slots = new ReleasingMap<number, Slot>();

  /** Creates an empty coalescer. */
  constructor(options: DeltaCoalescerOptions<T>) {
    this.#flushMs = options.flushMs;
    this.#sliceMs = Math.max(1, options.flushMs / SLOTS);
    this.#maxChars = options.maxChars ?? 2_048;
    this.#write = options.write;
    this.#keyOf = options.keyOf;
  }

  /** Adds `text` to the stream of `step` (and section `index`) of `target`. */
  add(target: T, step: StepName, index: number | undefined, text: string): void {
    const stream = streamOf(step, index);
    const key = this.#keyOf(target);
    let streams = this.#targets.get(key);
    if (!streams) {
      this.#targets.set(
        key,
        streams = { target, buffers: new Map(), streamed: new Set(), due: undefined },
      );
    }
    streams.streamed.add(stream);
    let held = streams.buffers.get(stream);
    if (held) {
      held.parts.push(text);
      held.length += text.length;
    } else {
      streams.buffers.set(stream, held = { step, index, parts: [text], length: text.length });
    }
    // A single large chunk counts too, so events stay about `maxChars` whatever the chunking.
    if (this.#flushMs <= 0 || held.length >= this.#maxChars) {
      this.#flush(key);
    } else if (streams.due === undefined) {
      this.#schedule(key, streams);
    }
  }

  /**
   * Drops what the stream of `step` (and `index`) holds, as its call starts over; returns
   * whether it had sent text since it last started, which clients must then drop too.
   */
  restart(target: T, step: StepName, index: number | undefined): boolean {
    const stream = streamOf(step, index);
    const streams = this.#targets.get(this.#keyOf(target));
    streams?.buffers.delete(stream);
    return streams?.streamed.delete(stream) ?? false;
  }

  /** Writes what `target` holds now, stream by stream. */
  flush(target: T): void {
    this.#flush(this.#keyOf(target));
  }

  /** Writes what every target holds. */
  flushAll(): void {
    for (const due of [...this.#slots.keys()]) this.#flushSlot(due);
  }

  /** Writes what `target` holds and forgets it: its run is over. */
  forget(target: T): void {
    const key = this.#keyOf(target);
    this.#flush(key);
    this.#targets.delete(key);
  }

  /** Writes everything held and stops the timers. */
  close(): void {
    this.flushAll();
  }

  #flush(key: string | number): void {
    const streams = this.#targets.get(key);
    if (!streams) return;
    if (streams.due !== undefined) this.#unschedule(key, streams.due);
    streams.due = undefined;
    const { buffers } = streams;
    if (buffers.size === 0) return;
    const held = [...buffers.values()];
    buffers.clear();
    for (const { step, index, parts, length } of held) {
      if (length === 0) continue;
      this.#write(streams.target, {
        step,
        index,
        text: parts.length === 1 ? parts[0] as string : parts.join(""),
      });
    }
  }

  #schedule(key: string | number, streams: Streams<T>): void {
    const now = performance.now();
    // Rounded down: text never waits longer than `flushMs`.
    const due = Math.floor((now + this.#flushMs) / this.#sliceMs) * this.#sliceMs;
    streams.due = due;
    let slot = this.#slots.get(due);
    if (!slot) {
      const timer = timerQueue.schedule(due - now, () => this.#flushSlot(due));
      this.#slots.set(due, slot = { keys: new Set(), timer });
    }
    slot.keys.add(key);
  }

  #unschedule(key: string | number, due: number): void {
    // An emptied slot keeps its timer until it fires: a step that ends within `flushMs` (every
    // step of a fast call) would otherwise start and stop a timer per call, and timers cost more
    // than the text; the next call's text lands in the same slot while it is current.
    this.#slots.get(due)?.keys.delete(key);
  }

  #flushSlot(due: number): void {
    const slot = this.#slots.get(due);
    if (!slot) return;
    timerQueue.cancel(slot.timer);
    this.#slots.delete(due);
    for (const key of slot.keys) {
      const streams = this.#targets.get(key);
      // Emptied first: a write that adds text (it should not) lands in a new slot.
      if (streams) streams.due = undefined;
    }
    for (const key of slot.keys) this.#flush(key);
  }
}
