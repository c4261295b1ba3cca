/**
 * Delivers each job's event log to its subscribers. Every subscriber is a cursor into the log and
 * a writer (the writable side of its own TransformStream): it is written only while the writer
 * has room, so a slow reader costs nothing but its place in the log and never holds up the job or
 * the other readers. A subscriber may follow one job, several listed jobs (a cursor per job), or
 * every job (a cursor into the store's order of every job's appends); all three share the same
 * bounded writing, heartbeats, stall drops and shutdown. Knows nothing of SSE framing.
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import { systemClock } from "./clock.ts";
import { type JobEvent, TERMINAL_EVENTS } from "./job.ts";
import type { JobStore } from "./job_store.ts";
import { encodeEveryCursor, encodeListedCursor, listFingerprint } from "./stream_cursor.ts";

/** A signal to a stream that is not an event of the log. */
export interface FeedSignal {
  /** `heartbeat` keeps idle connections alive; `shutdown` is the last word before the server stops. */
  readonly signal: "heartbeat" | "shutdown";
}

/** What a subscriber's writer receives. */
export type FeedItem = JobEvent | FeedSignal;

/** One event of a stream of several jobs: the event, its job, and the cursor that follows it. */
export interface JobsFeedEvent {
  /** The job whose log holds the event. */
  readonly job: string;
  /** The event. */
  readonly event: JobEvent;
  /** Resumes every job of the stream right after this event (see `stream_cursor.ts`). */
  readonly cursor: string;
}

/** What the writer of a stream of several jobs receives. */
export type JobsFeedItem = JobsFeedEvent | FeedSignal;

/** The heartbeat item, shared by every stream. */
export const HEARTBEAT: FeedSignal = Object.freeze({ signal: "heartbeat" });
/** The shutdown item, shared by every stream. */
export const SHUTDOWN: FeedSignal = Object.freeze({ signal: "shutdown" });

/** Whether an item is a signal rather than a log event. */
export function isSignal<T extends object>(item: T | FeedSignal): item is FeedSignal {
  return "signal" in item;
}

/** Where a subscriber's items go: its stream's writer, and a way to end the stream at once. */
export interface FeedSink<T = FeedItem> {
  /** Writer of the stream's writable side; its `desiredSize` is the back-pressure signal. */
  writer: WritableStreamDefaultWriter<T>;
  /** Ends the stream at once, dropping what is queued (the client is gone or stuck). */
  abort(reason: unknown): void;
  /**
   * How long, in ms, the stream stays open after the terminal event, with heartbeats, before
   * it is closed: for clients that report any close as a failure. Absent or 0 closes at once.
   */
  holdOpenMs?: number;
}

/** Settings of a {@linkcode JobFeed}. */
export interface JobFeedOptions {
  /** Where the logs are read from. */
  store: JobStore;
  /** Idle streams get a heartbeat about this often, in ms. */
  heartbeatMs: number;
  /** A stream whose reader takes nothing for this long, in ms, while items wait, is dropped. */
  stallMs: number;
  /** Time source. */
  clock?: Clock;
}

/** What any subscription's writer receives. */
type AnyItem = FeedItem | JobsFeedEvent;

/**
 * One open stream: its writer and where it is. Subclasses say what it reads. `read` and
 * `readNow` return the next items to write, at most `limit`, and move the cursor past them: the
 * feed writes all of them in the same turn.
 */
abstract class Subscription {
  readonly writer: WritableStreamDefaultWriter<AnyItem>;
  readonly abort: (reason: unknown) => void;
  readonly holdOpenMs: number;
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
class JobSubscription extends Subscription {
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
    const store = this.#store;
    if (!store.eventsNow) return undefined;
    this.#dirty = false;
    return this.#took(store.eventsNow(this.jobId, this.cursor, limit), limit);
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
class ListedSubscription extends Subscription {
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
    const store = this.#store;
    if (!store.eventsNow) return undefined;
    const out: JobsFeedEvent[] = [];
    for (const jobId of [...this.#dirty]) {
      const want = limit - out.length;
      if (want <= 0) break;
      this.#dirty.delete(jobId);
      const i = this.#index.get(jobId) as number;
      this.#took(out, jobId, i, store.eventsNow(jobId, this.#lastIds[i] as number, want), want);
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
class EverySubscription extends Subscription {
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
    const store = this.#store;
    if (!store.eventsSinceNow) return undefined;
    this.#dirty = false;
    return this.#took(store.eventsSinceNow(this.position, limit), limit);
  }

  async read(limit: number): Promise<readonly JobsFeedEvent[]> {
    this.#dirty = false;
    const store = this.#store;
    if (!store.eventsSince) return [];
    return this.#took(await store.eventsSince(this.position, limit), limit);
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

const ignore = () => {};

/** Fans each job's log out to any number of subscribers, each at its own pace. */
export class JobFeed {
  readonly #store: JobStore;
  readonly #clock: Clock;
  readonly #heartbeatMs: number;
  readonly #stallMs: number;
  /** Every open subscription. */
  readonly #subs = new Set<Subscription>();
  /** The subscriptions that follow each job, one job or several. */
  readonly #byJob = new Map<string, Set<Subscription>>();
  /** The subscriptions that follow every job. */
  readonly #every = new Set<EverySubscription>();
  /** How to stop watching each job's log in a shared store, while it has subscribers. */
  readonly #unwatch = new Map<string, () => void>();
  /** How to stop watching every job's appends in a shared store, while anyone follows them. */
  #unwatchAll: (() => void) | undefined;
  #sweepTimer: ReturnType<typeof setInterval> | undefined;
  /** Items handed to writers, signals included. */
  itemsWritten = 0;
  /** Subscribers dropped because their reader stalled. */
  stalledDrops = 0;

  /** Creates a feed reading from `options.store`. */
  constructor(options: JobFeedOptions) {
    this.#store = options.store;
    this.#clock = options.clock ?? systemClock;
    this.#heartbeatMs = options.heartbeatMs;
    this.#stallMs = options.stallMs;
  }

  /** How many streams are open; a stream of several jobs counts once. */
  get size(): number {
    return this.#subs.size;
  }

  /**
   * Starts delivering `jobId`'s events with ids above `afterId` to `sink`, then live ones, and
   * closes its writer after the terminal event (or `sink.holdOpenMs` later). The subscription
   * ends by itself when the writer closes or errors (the client went away).
   */
  subscribe(jobId: string, afterId: number, sink: FeedSink): void {
    const sub = new JobSubscription(this.#store, jobId, afterId, sink, this.#clock.now());
    this.#follow(sub, jobId);
    this.#open(sub);
  }

  /**
   * Starts delivering the events of several jobs to `sink`, each job's with ids above its
   * `afterId`, then live ones, interleaved as they come; each item carries the cursor that
   * resumes every job at once. A job `finished` with nothing after `afterId` is not read. The
   * writer is closed once every job's terminal event is written (at once when all are finished).
   */
  subscribeJobs(
    jobs: readonly { id: string; afterId: number; finished: boolean }[],
    sink: FeedSink<JobsFeedItem>,
  ): void {
    const sub = new ListedSubscription(this.#store, jobs, sink, this.#clock.now());
    if (sub.done) {
      sink.writer.close().catch(ignore);
      return;
    }
    for (const job of jobs) if (!job.finished) this.#follow(sub, job.id);
    this.#open(sub);
  }

  /**
   * Starts delivering every job's events after the store's `position` (see
   * `JobStore.headPosition`), new jobs included, in the store's order of every job's appends.
   * The stream stays open until the client leaves or `closeAll`.
   */
  subscribeEvery(position: string, sink: FeedSink<JobsFeedItem>): void {
    const sub = new EverySubscription(this.#store, position, sink, this.#clock.now());
    if (this.#every.size === 0) {
      // Other processes sharing the store append too: learn of it from the store.
      this.#unwatchAll = this.#store.watchAll?.(() => {
        for (const every of this.#every) this.#pump(every, undefined);
      });
    }
    this.#every.add(sub);
    this.#open(sub);
  }

  /** Tells the feed that `jobId`'s log has grown. */
  notify(jobId: string): void {
    const subs = this.#byJob.get(jobId);
    if (subs) { for (const sub of subs) this.#pump(sub, jobId); }
    for (const sub of this.#every) this.#pump(sub, jobId);
  }

  /**
   * Ends every stream: writes `final` where there is room, closes the writer, and aborts the
   * ones that have not finished within `graceMs`. Resolves once every stream is gone.
   */
  async closeAll(final: FeedSignal = SHUTDOWN, graceMs = 1_000): Promise<void> {
    const all = [...this.#subs];
    for (const sub of all) {
      // A held stream's job has ended: nothing to resume, so nothing but the close.
      if (
        sub.closingSince === null && sub.heldSince === null && (sub.writer.desiredSize ?? 0) > 0
      ) {
        this.#write(sub, final);
      }
      this.#close(sub);
    }
    const closed = Promise.allSettled(all.map((sub) => sub.writer.closed));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([closed, timeout]);
    clearTimeout(timer);
    for (const sub of all) this.#abort(sub, new Error("Server is shutting down"));
    await closed;
  }

  /** Routes `jobId`'s notifications to `sub`. */
  #follow(sub: Subscription, jobId: string): void {
    let subs = this.#byJob.get(jobId);
    if (!subs) {
      this.#byJob.set(jobId, subs = new Set());
      // Another process may be the one appending: learn of its appends from the store.
      const unwatch = this.#store.watch?.(jobId, () => this.notify(jobId));
      if (unwatch) this.#unwatch.set(jobId, unwatch);
    }
    subs.add(sub);
  }

  #open(sub: Subscription): void {
    this.#subs.add(sub);
    const remove = () => this.#remove(sub);
    sub.writer.closed.then(remove, remove);
    this.#ensureSweep();
    this.#pump(sub, undefined);
  }

  #pump(sub: Subscription, jobId: string | undefined): void {
    sub.touch(jobId);
    if (sub.pumping || sub.closingSince !== null || sub.heldSince !== null) return;
    // With a writer that has room and a store that answers at once, the new events are written
    // in this turn: no async loop and no promise per subscriber, which is what fan-out costs.
    if (this.#deliverNow(sub)) return;
    sub.pumping = true;
    this.#drain(sub).catch((error) => this.#abort(sub, error));
  }

  /**
   * Writes what the store holds now while the writer has room. Returns `false` when the writer
   * ran out of room with events possibly left, or the store cannot answer at once, for the async
   * drain to go on.
   */
  #deliverNow(sub: Subscription): boolean {
    try {
      while (sub.dirty && sub.closingSince === null) {
        const room = sub.writer.desiredSize;
        if (room === null) return true; // errored: `closed` rejects and removes it
        if (room <= 0) return false;
        const items = sub.readNow(room);
        if (items === undefined) return false;
        if (this.#writeItems(sub, items)) return true;
      }
    } catch (error) {
      this.#abort(sub, error);
    }
    return true;
  }

  async #drain(sub: Subscription): Promise<void> {
    try {
      while (sub.dirty && sub.closingSince === null) {
        const room = sub.writer.desiredSize;
        if (room === null) return; // errored: `closed` rejects and removes it
        if (room <= 0) {
          sub.stalledSince ??= this.#clock.now();
          await sub.writer.ready;
          sub.stalledSince = null;
          continue;
        }
        const items = sub.readNow(room) ?? await sub.read(room);
        if (this.#writeItems(sub, items)) return;
      }
    } finally {
      // Cleared in the same turn as the last `dirty` check (no await between them), so a
      // notification can never land in a gap where it is neither seen nor pumped.
      sub.pumping = false;
    }
  }

  /** Writes `items`; returns whether the last job's terminal event ended the delivery. */
  #writeItems(sub: Subscription, items: readonly AnyItem[]): boolean {
    for (const item of items) {
      this.#write(sub, item);
      if (sub.ends(item)) {
        if (sub.holdOpenMs > 0) sub.heldSince = this.#clock.now();
        else this.#close(sub);
        return true;
      }
    }
    return false;
  }

  #write(sub: Subscription, item: AnyItem | FeedSignal): void {
    sub.lastWriteAt = this.#clock.now();
    this.itemsWritten++;
    // A rejected write means the client is gone; `closed` rejects too and removes it.
    sub.writer.write(item as AnyItem).catch(ignore);
  }

  #close(sub: Subscription): void {
    if (sub.closingSince !== null) return;
    sub.closingSince = this.#clock.now();
    sub.writer.close().catch(ignore);
  }

  #abort(sub: Subscription, reason: unknown): void {
    sub.closingSince ??= this.#clock.now();
    sub.abort(reason);
  }

  #remove(sub: Subscription): void {
    if (!this.#subs.delete(sub)) return;
    const jobIds = sub instanceof JobSubscription
      ? [sub.jobId]
      : sub instanceof ListedSubscription
      ? sub.jobIds
      : [];
    for (const jobId of jobIds) {
      const subs = this.#byJob.get(jobId);
      if (!subs?.delete(sub) || subs.size > 0) continue;
      this.#byJob.delete(jobId);
      this.#unwatch.get(jobId)?.();
      this.#unwatch.delete(jobId);
    }
    if (sub instanceof EverySubscription && this.#every.delete(sub) && this.#every.size === 0) {
      this.#unwatchAll?.();
      this.#unwatchAll = undefined;
    }
    if (this.#subs.size === 0 && this.#sweepTimer !== undefined) {
      clearInterval(this.#sweepTimer);
      this.#sweepTimer = undefined;
    }
  }

  #ensureSweep(): void {
    if (this.#sweepTimer !== undefined) return;
    const every = Math.max(10, Math.min(this.#heartbeatMs, this.#stallMs) / 2);
    const timer = setInterval(() => this.#sweep(), every);
    // The sweep serves open streams; it must not keep a finished process alive.
    Deno.unrefTimer(timer);
    this.#sweepTimer = timer;
  }

  #sweep(): void {
    const now = this.#clock.now();
    for (const sub of this.#subs) {
      const stuckSince = sub.closingSince ?? sub.stalledSince;
      if (stuckSince !== null && now - stuckSince >= this.#stallMs) {
        this.stalledDrops++;
        this.#abort(sub, new Error("Client stopped reading"));
      } else if (sub.heldSince !== null && now - sub.heldSince >= sub.holdOpenMs) {
        this.#close(sub);
      } else if (
        sub.closingSince === null && now - sub.lastWriteAt >= this.#heartbeatMs &&
        (sub.writer.desiredSize ?? 0) > 0
      ) {
        this.#write(sub, HEARTBEAT);
      }
    }
  }
}
