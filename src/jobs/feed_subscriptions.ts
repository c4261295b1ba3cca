/**
 * The three kinds of a feed's subscriber, each a cursor of its own: one job's log, several listed
 * jobs' logs (a cursor per job), or every job's appends in the store's order. Each reads the
 * next items at once where the store can answer so (`eventsNow`), else with a read.
 *
 * @module
 */

import { type JobEvent, TERMINAL_EVENTS } from "../core/job.ts";
import type { JobStore } from "../core/job_store.ts";
import { encodeEveryCursor, encodeListedCursor, listFingerprint } from "../core/stream_cursor.ts";
import type { FeedItem, FeedSink, JobsFeedEvent, JobsFeedItem } from "./feed_items.ts";

/** What any subscription's writer receives. */
export type AnyItem = FeedItem | JobsFeedEvent;

let nextSerial = 1;

/**
 * One open stream: its writer and where it is. Subclasses say what it reads. `read` and
 * `readNow` return the next items to write, at most `limit`, and move the cursor past them: the
 * feed writes all of them in the same turn.
 */
export abstract class Subscription {
  /** A number no other subscription in this process has: its key in the feed's maps. */
  readonly serial: number = nextSerial++;
  readonly writer: WritableStreamDefaultWriter<AnyItem>;
  readonly abort: (reason: unknown) => void;
  readonly holdOpenMs: number;
  readonly skips: ((item: AnyItem) => boolean) | undefined;
  lastWriteAt: number;
  /** When the writer last ran out of room, or `null` while it has room. */
  stalledSince: number | null = null;
  /** When `close` was asked for; nothing is written after. */
  closingSince: number | null = null;
  /** When the terminal event was written to a stream held open; only heartbeats follow it. */
  heldSince: number | null = null;
  pumping = false;

  constructor(sink: FeedSink<never>, now: number) {
    this.writer = sink.writer as WritableStreamDefaultWriter<AnyItem>;
    this.abort = sink.abort;
    this.holdOpenMs = sink.holdOpenMs ?? 0;
    this.skips = sink.skips as ((item: AnyItem) => boolean) | undefined;
    this.lastWriteAt = now;
  }

  /** Whether there may be items to read. */
  abstract get dirty(): boolean;
  /** Says there may be new items (of job `jobId`, for a subscription that follows several). */
  abstract touch(jobId: string | undefined): void;
  /** The next items, read at once; `undefined` when only `read` can tell. */
  abstract readNow(limit: number): readonly AnyItem[] | undefined;
  /** The next items. */
  abstract read(limit: number): Promise<readonly AnyItem[]>;
  /** Whether `item`, just written, ends the stream (its last job's terminal event). */
  abstract ends(item: AnyItem): boolean;
}

/** Follows one job's log from `cursor`, its last event id delivered. */
export class JobSubscription extends Subscription {
  readonly jobId: string;
  readonly #store: JobStore;
  cursor: number;
  #dirty = true;

  constructor(store: JobStore, jobId: string, cursor: number, sink: FeedSink, now: number) {
    super(sink, now);
    this.#store = store;
    this.jobId = jobId;
    this.cursor = cursor;
  }

  get dirty(): boolean {
    return this.#dirty;
  }

  touch(): void {
    this.#dirty = true;
  }

  readNow(limit: number): readonly JobEvent[] | undefined {
    // `null` from a store that must read its logs: the async `read` takes over.
    const events = this.#store.eventsNow(this.jobId, this.cursor, limit);
    if (events === null) return undefined;
    this.#dirty = false;
    return this.#took(events, limit);
  }

  async read(limit: number): Promise<readonly JobEvent[]> {
    this.#dirty = false;
    return this.#took(await this.#store.events(this.jobId, this.cursor, limit), limit);
  }

  ends(item: AnyItem): boolean {
    return TERMINAL_EVENTS.has((item as JobEvent).type);
  }

  #took(events: JobEvent[], limit: number): readonly JobEvent[] {
    if (events.length === limit) this.#dirty = true;
    // A store may hand back what was already delivered (a read racing a write): skip it.
    let skip = 0;
    while (skip < events.length && (events[skip] as JobEvent).id <= this.cursor) skip++;
    if (events.length > 0) this.cursor = Math.max(this.cursor, (events.at(-1) as JobEvent).id);
    return skip === 0 ? events : events.slice(skip);
  }
}

/** Follows several listed jobs, each from its own last event id delivered. */
export class ListedSubscription extends Subscription {
  readonly jobIds: readonly string[];
  readonly #store: JobStore;
  readonly #fingerprint: number;
  /** Last event id delivered, per job, in list order: the cursor. */
  readonly #lastIds: number[];
  readonly #index = new Map<string, number>();
  /** Jobs that may have events to read, in the order they were touched. */
  readonly #dirty = new Set<string>();
  /** Jobs whose terminal event is not yet delivered. */
  #open: number;

  constructor(
    store: JobStore,
    jobs: readonly { id: string; afterId: number; finished: boolean }[],
    sink: FeedSink<JobsFeedItem>,
    now: number,
  ) {
    super(sink, now);
    this.#store = store;
    this.jobIds = jobs.map((job) => job.id);
    this.#fingerprint = listFingerprint(this.jobIds);
    this.#lastIds = jobs.map((job) => job.afterId);
    this.#open = 0;
    jobs.forEach((job, i) => {
      this.#index.set(job.id, i);
      if (!job.finished) {
        this.#open++;
        this.#dirty.add(job.id);
      }
    });
  }

  /** Whether every listed job's terminal event has been delivered. */
  get done(): boolean {
    return this.#open === 0;
  }

  get dirty(): boolean {
    return this.#dirty.size > 0;
  }

  touch(jobId: string | undefined): void {
    if (jobId === undefined) { for (const id of this.jobIds) this.#dirty.add(id); }
    else this.#dirty.add(jobId);
  }

  readNow(limit: number): readonly JobsFeedEvent[] | undefined {
    const out: JobsFeedEvent[] = [];
    for (const jobId of [...this.#dirty]) {
      const want = limit - out.length;
      if (want <= 0) break;
      const i = this.#index.get(jobId) as number;
      // `null` from a store that must read its logs (it answers so for every job): `read` then.
      const events = this.#store.eventsNow(jobId, this.#lastIds[i] as number, want);
      if (events === null) return undefined;
      this.#dirty.delete(jobId);
      this.#took(out, jobId, i, events, want);
    }
    return out;
  }

  async read(limit: number): Promise<readonly JobsFeedEvent[]> {
    const out: JobsFeedEvent[] = [];
    for (const jobId of [...this.#dirty]) {
      const want = limit - out.length;
      if (want <= 0) break;
      // Cleared before the read: a touch while it is away marks the job again.
      this.#dirty.delete(jobId);
      const i = this.#index.get(jobId) as number;
      const events = await this.#store.events(jobId, this.#lastIds[i] as number, want);
      this.#took(out, jobId, i, events, want);
    }
    return out;
  }

  ends(item: AnyItem): boolean {
    if (!TERMINAL_EVENTS.has((item as JobsFeedEvent).event.type)) return false;
    return --this.#open === 0;
  }

  #took(out: JobsFeedEvent[], jobId: string, i: number, events: JobEvent[], want: number): void {
    if (events.length === want) this.#dirty.add(jobId); // there may be more
    for (const event of events) {
      if (event.id <= (this.#lastIds[i] as number)) continue;
      this.#lastIds[i] = event.id;
      out.push({
        job: jobId,
        event,
        cursor: encodeListedCursor(this.#fingerprint, this.#lastIds),
      });
    }
  }
}

/** Follows every job's events, in the store's order of every job's appends, from `position`. */
export class EverySubscription extends Subscription {
  readonly #store: JobStore;
  position: string;
  #dirty = true;

  constructor(store: JobStore, position: string, sink: FeedSink<JobsFeedItem>, now: number) {
    super(sink, now);
    this.#store = store;
    this.position = position;
  }

  get dirty(): boolean {
    return this.#dirty;
  }

  touch(): void {
    this.#dirty = true;
  }

  readNow(limit: number): readonly JobsFeedEvent[] | undefined {
    const placed = this.#store.eventsSinceNow(this.position, limit);
    if (placed === null) return undefined;
    this.#dirty = false;
    return this.#took(placed, limit);
  }

  async read(limit: number): Promise<readonly JobsFeedEvent[]> {
    this.#dirty = false;
    return this.#took(await this.#store.eventsSince(this.position, limit), limit);
  }

  ends(): boolean {
    return false; // every job, new ones too: open until the client or the server leaves
  }

  #took(
    placed: { jobId: string; event: JobEvent; position: string }[],
    limit: number,
  ): JobsFeedEvent[] {
    if (placed.length === limit) this.#dirty = true;
    const last = placed.at(-1);
    if (last) this.position = last.position;
    return placed.map(({ jobId, event, position }) => ({
      job: jobId,
      event,
      cursor: encodeEveryCursor(position),
    }));
  }
}
