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
interface Streams {
  /** Text held per stream, in the order the streams first sent it since the last write. */
  buffers: Map<string, Held>;
  /** Streams that have sent text since they last started over. */
  streamed: Set<string>;
  /** When its text is due, the key of its slot; `undefined` while it holds none. */
  due: number | undefined;
}

/** The targets due at one time, and the timer that writes them. */
interface Slot<T> {
  targets: Set<T>;
  timer: ReturnType<typeof setTimeout>;
}

// A stream's key per chunk, without building the string each time.
const keys = new Map<StepName, string[]>();

function keyOf(step: StepName, index: number | undefined): string {
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
  readonly #targets = new Map<T, Streams>();
  /** Targets holding text, by when it is due. */
  readonly #slots = new Map<number, Slot<T>>();

  /** Creates an empty coalescer. */
  constructor(options: DeltaCoalescerOptions<T>) {
    this.#flushMs = options.flushMs;
    this.#sliceMs = Math.max(1, options.flushMs / SLOTS);
    this.#maxChars = options.maxChars ?? 2_048;
    this.#write = options.write;
  }

  /** Adds `text` to the stream of `step` (and section `index`) of `target`. */
  add(target: T, step: StepName, index: number | undefined, text: string): void {
    const key = keyOf(step, index);
    let streams = this.#targets.get(target);
    if (!streams) {
      this.#targets.set(
        target,
        streams = { buffers: new Map(), streamed: new Set(), due: undefined },
      );
    }
    streams.streamed.add(key);
    let held = streams.buffers.get(key);
    if (held) {
      held.parts.push(text);
      held.length += text.length;
    } else {
      streams.buffers.set(key, held = { step, index, parts: [text], length: text.length });
    }
    // A single large chunk counts too, so events stay about `maxChars` whatever the chunking.
    if (this.#flushMs <= 0 || held.length >= this.#maxChars) {
      this.flush(target);
    } else if (streams.due === undefined) {
      this.#schedule(target, streams);
    }
  }

  /**
   * Drops what the stream of `step` (and `index`) holds, as its call starts over; returns
   * whether it had sent text since it last started, which clients must then drop too.
   */
  restart(target: T, step: StepName, index: number | undefined): boolean {
    const key = keyOf(step, index);
    const streams = this.#targets.get(target);
    streams?.buffers.delete(key);
    return streams?.streamed.delete(key) ?? false;
  }

  /** Writes what `target` holds now, stream by stream. */
  flush(target: T): void {
    const streams = this.#targets.get(target);
    if (!streams) return;
    if (streams.due !== undefined) this.#unschedule(target, streams.due);
    streams.due = undefined;
    const { buffers } = streams;
    if (buffers.size === 0) return;
    const held = [...buffers.values()];
    buffers.clear();
    for (const { step, index, parts, length } of held) {
      if (length === 0) continue;
      this.#write(target, {
        step,
        index,
        text: parts.length === 1 ? parts[0] as string : parts.join(""),
      });
    }
  }

  /** Writes what every target holds. */
  flushAll(): void {
    for (const due of [...this.#slots.keys()]) this.#flushSlot(due);
  }

  /** Writes what `target` holds and forgets it: its run is over. */
  forget(target: T): void {
    this.flush(target);
    this.#targets.delete(target);
  }

  /** Writes everything held and stops the timers. */
  close(): void {
    this.flushAll();
  }

  #schedule(target: T, streams: Streams): void {
    const now = performance.now();
    // Rounded down: text never waits longer than `flushMs`.
    const due = Math.floor((now + this.#flushMs) / this.#sliceMs) * this.#sliceMs;
    streams.due = due;
    let slot = this.#slots.get(due);
    if (!slot) {
      const timer = setTimeout(() => this.#flushSlot(due), Math.max(0, due - now));
      this.#slots.set(due, slot = { targets: new Set(), timer });
    }
    slot.targets.add(target);
  }

  #unschedule(target: T, due: number): void {
    // An emptied slot keeps its timer until it fires: a step that ends within `flushMs` (every
    // step of a fast call) would otherwise start and stop a timer per call, and timers cost more
    // than the text; the next call's text lands in the same slot while it is current.
    this.#slots.get(due)?.targets.delete(target);
  }

  #flushSlot(due: number): void {
    const slot = this.#slots.get(due);
    if (!slot) return;
    clearTimeout(slot.timer);
    this.#slots.delete(due);
    for (const target of slot.targets) {
      const streams = this.#targets.get(target);
      // Emptied first: a write that adds text (it should not) lands in a new slot.
      if (streams) streams.due = undefined;
    }
    for (const target of slot.targets) this.flush(target);
  }
}
