/**
 * The newest events the SQLite store has written, kept in memory for live readers: a tail per
 * recently active job, and the newest events of every job in the order of every job's appends.
 * Live readers ask for just these, so they are served without reading the file back.
 *
 * @module
 */

import type { JobEvent } from "../core/job.ts";
import type { PlacedEvent } from "../core/job_store.ts";
import { ReleasingMap } from "../core/releasing_map.ts";

/** Written events kept in memory per job, and jobs kept, for live readers. */
const TAIL_EVENTS = 256;
const TAIL_JOBS = 256;
/** Written events of every job kept in memory, in order, for live readers of every job. */
const RECENT_EVENTS = 4_096;

/** A written event in the order of every job's appends; `gone` once its job is deleted. */
interface RecentEvent {
  jobId: string;
  event: JobEvent;
  seq: number;
  gone?: boolean;
}

/**
 * Recently written events, by job and in order.
 *
 * @example
 * ```ts
 * import { WrittenEvents } from "./written_events.ts";
 * import assert from "node:assert/strict";
 *
 * const written = new WrittenEvents();
 * written.add("j", [{ id: 1, type: "status", data: {} }], 7);
 * assert.deepEqual(written.tail("j", 0, 10)?.map((e) => e.id), [1]);
 * assert.deepEqual(written.since(7, 10, () => false)?.map((p) => p.position), ["8"]);
 * ```
 */
export class WrittenEvents {
  // Long-lived, with an entry per job: see `ReleasingMap` for why not `Map`.
  readonly #tails = new ReleasingMap<string, JobEvent[]>();
  /**
   * The newest events of every job, in a ring: event `seq` at `seq % RECENT_EVENTS`. Slots are
   * overwritten in place, never an array outgrown and dropped, which would keep what it held
   * alive for the young-generation collector just as a rebuilt `Map` table does.
   */
  readonly #ring: (RecentEvent | undefined)[] = Array.from(
    { length: RECENT_EVENTS },
    () => undefined,
  );
  /** The position of the newest event in the ring; 0 while it is empty. */
  #last = 0;
  /** The position of the oldest event in the ring. */
  #first = 1;

  /**
   * Takes note of `written`, job `jobId`'s events just written, at the positions after `seq`;
   * returns the position of the last.
   */
  add(jobId: string, written: JobEvent[], seq: number): number {
    let tail = this.#tails.get(jobId);
    // Ids are contiguous; a tail that does not end where this batch starts is stale.
    if (!tail || (tail.at(-1)?.id ?? 0) + 1 !== written[0]?.id) tail = [];
    else this.#tails.delete(jobId); // re-inserted below: the Map's order is recency
    tail.push(...written);
    if (tail.length > TAIL_EVENTS) tail.splice(0, tail.length - TAIL_EVENTS);
    this.#tails.set(jobId, tail);
    if (this.#tails.size > TAIL_JOBS) {
      this.#tails.delete(this.#tails.keys().next().value as string);
    }
    if (this.#last !== seq) this.#first = seq + 1; // the first batch, or a gap: start over
    for (const event of written) this.#ring[++seq % RECENT_EVENTS] = { jobId, event, seq };
    this.#last = seq;
    this.#first = Math.max(this.#first, seq - RECENT_EVENTS + 1);
    return seq;
  }

  /** Forgets job `id`, which was deleted. */
  forget(id: string): void {
    this.#tails.delete(id);
    for (const recent of this.#ring) if (recent?.jobId === id) recent.gone = true;
  }

  /** Up to `limit` of job `jobId`'s events after `afterId`; `undefined` when not all are kept. */
  tail(jobId: string, afterId: number, limit: number): JobEvent[] | undefined {
    const tail = this.#tails.get(jobId);
    const first = tail?.[0]?.id;
    if (!tail || first === undefined || first > afterId + 1) return undefined;
    const from = afterId + 1 - first;
    return tail.slice(from, from + limit);
  }

  /**
   * Up to `limit` events of any job after position `after`, those of jobs `deleted` says are gone
   * left out; `undefined` when not all are kept.
   */
  since(
    after: number,
    limit: number,
    deleted: (jobId: string) => boolean,
  ): PlacedEvent[] | undefined {
    if (this.#last === 0 || this.#first > after + 1) return undefined;
    const out: PlacedEvent[] = [];
    for (let seq = after + 1; seq <= this.#last && out.length < limit; seq++) {
      const { jobId, event, gone } = this.#ring[seq % RECENT_EVENTS] as RecentEvent;
      if (!gone && !deleted(jobId)) out.push({ jobId, event, position: String(seq) });
    }
    return out;
  }
}
