/**
 * Delivers each job's event log to its subscribers. Every subscriber is a cursor into the log and
 * a writer (the writable side of its own TransformStream): it is written only while the writer
 * has room, so a slow reader costs nothing but its place in the log and never holds up the job or
 * the other readers. Knows nothing of SSE framing.
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import { systemClock } from "./clock.ts";
import { type JobEvent, TERMINAL_EVENTS } from "./job.ts";
import type { JobStore } from "./job_store.ts";

/** A signal to a stream that is not an event of the log. */
export interface FeedSignal {
  /** `heartbeat` keeps idle connections alive; `shutdown` is the last word before the server stops. */
  readonly signal: "heartbeat" | "shutdown";
}

/** What a subscriber's writer receives. */
export type FeedItem = JobEvent | FeedSignal;

/** The heartbeat item, shared by every stream. */
export const HEARTBEAT: FeedSignal = Object.freeze({ signal: "heartbeat" });
/** The shutdown item, shared by every stream. */
export const SHUTDOWN: FeedSignal = Object.freeze({ signal: "shutdown" });

/** Whether an item is a signal rather than a log event. */
export function isSignal(item: FeedItem): item is FeedSignal {
  return "signal" in item;
}

/** Where a subscriber's items go: its stream's writer, and a way to end the stream at once. */
export interface FeedSink {
  /** Writer of the stream's writable side; its `desiredSize` is the back-pressure signal. */
  writer: WritableStreamDefaultWriter<FeedItem>;
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

class Subscription {
  readonly jobId: string;
  readonly writer: WritableStreamDefaultWriter<FeedItem>;
  readonly abort: (reason: unknown) => void;
  readonly holdOpenMs: number;
  cursor: number;
  lastWriteAt: number;
  /** When the writer last ran out of room, or `null` while it has room. */
  stalledSince: number | null = null;
  /** When `close` was asked for; nothing is written after. */
  closingSince: number | null = null;
  /** When the terminal event was written to a stream held open; only heartbeats follow it. */
  heldSince: number | null = null;
  dirty = true;
  pumping = false;

  constructor(jobId: string, cursor: number, sink: FeedSink, now: number) {
    this.jobId = jobId;
    this.cursor = cursor;
    this.writer = sink.writer;
    this.abort = sink.abort;
    this.holdOpenMs = sink.holdOpenMs ?? 0;
    this.lastWriteAt = now;
  }
}

const ignore = () => {};

type EventsNow = NonNullable<JobStore["eventsNow"]>;

/** Fans each job's log out to any number of subscribers, each at its own pace. */
export class JobFeed {
  readonly #store: JobStore;
  readonly #clock: Clock;
  readonly #heartbeatMs: number;
  readonly #stallMs: number;
  readonly #byJob = new Map<string, Set<Subscription>>();
  /** How to stop watching each job's log in a shared store, while it has subscribers. */
  readonly #unwatch = new Map<string, () => void>();
  #count = 0;
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

  /** How many streams are open. */
  get size(): number {
    return this.#count;
  }

  /**
   * Starts delivering `jobId`'s events with ids above `afterId` to `sink`, then live ones, and
   * closes its writer after the terminal event (or `sink.holdOpenMs` later). The subscription
   * ends by itself when the writer closes or errors (the client went away).
   */
  subscribe(jobId: string, afterId: number, sink: FeedSink): void {
    const sub = new Subscription(jobId, afterId, sink, this.#clock.now());
    const writer = sink.writer;
    let subs = this.#byJob.get(jobId);
    if (!subs) {
      this.#byJob.set(jobId, subs = new Set());
      // Another process may be the one appending: learn of its appends from the store.
      const unwatch = this.#store.watch?.(jobId, () => this.notify(jobId));
      if (unwatch) this.#unwatch.set(jobId, unwatch);
    }
    subs.add(sub);
    this.#count++;
    const remove = () => this.#remove(sub);
    writer.closed.then(remove, remove);
    this.#ensureSweep();
    this.#pump(sub);
  }

  /** Tells the feed that `jobId`'s log has grown. */
  notify(jobId: string): void {
    const subs = this.#byJob.get(jobId);
    if (!subs) return;
    for (const sub of subs) this.#pump(sub);
  }

  /**
   * Ends every stream: writes `final` where there is room, closes the writer, and aborts the
   * ones that have not finished within `graceMs`. Resolves once every stream is gone.
   */
  async closeAll(final: FeedItem = SHUTDOWN, graceMs = 1_000): Promise<void> {
    const all = [...this.#byJob.values()].flatMap((subs) => [...subs]);
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

  #pump(sub: Subscription): void {
    sub.dirty = true;
    if (sub.pumping || sub.closingSince !== null || sub.heldSince !== null) return;
    // With a writer that has room and a store that answers at once, the new events are written
    // in this turn: no async loop and no promise per subscriber, which is what fan-out costs.
    if (this.#store.eventsNow && this.#deliverNow(sub)) return;
    sub.pumping = true;
    this.#drain(sub).catch((error) => this.#abort(sub, error));
  }

  /**
   * Writes what the store holds now while the writer has room. Returns `false` when the writer
   * ran out of room with events possibly left, for the async drain to wait for it.
   */
  #deliverNow(sub: Subscription): boolean {
    try {
      while (sub.dirty && sub.closingSince === null) {
        const room = sub.writer.desiredSize;
        if (room === null) return true; // errored: `closed` rejects and removes it
        if (room <= 0) return false;
        sub.dirty = false;
        const events = (this.#store.eventsNow as EventsNow).call(
          this.#store,
          sub.jobId,
          sub.cursor,
          room,
        );
        if (events.length === room) sub.dirty = true;
        if (this.#writeEvents(sub, events)) return true;
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
        sub.dirty = false;
        const events = this.#store.eventsNow
          ? this.#store.eventsNow(sub.jobId, sub.cursor, room)
          : await this.#store.events(sub.jobId, sub.cursor, room);
        if (events.length === room) sub.dirty = true;
        if (this.#writeEvents(sub, events)) return;
      }
    } finally {
      // Cleared in the same turn as the last `dirty` check (no await between them), so a
      // notification can never land in a gap where it is neither seen nor pumped.
      sub.pumping = false;
    }
  }

  /** Writes `events` past the cursor; returns whether the terminal one ended the delivery. */
  #writeEvents(sub: Subscription, events: readonly JobEvent[]): boolean {
    for (const event of events) {
      if (event.id <= sub.cursor) continue;
      this.#write(sub, event);
      sub.cursor = event.id;
      if (TERMINAL_EVENTS.has(event.type)) {
        if (sub.holdOpenMs > 0) sub.heldSince = this.#clock.now();
        else this.#close(sub);
        return true;
      }
    }
    return false;
  }

  #write(sub: Subscription, item: FeedItem): void {
    sub.lastWriteAt = this.#clock.now();
    this.itemsWritten++;
    // A rejected write means the client is gone; `closed` rejects too and removes it.
    sub.writer.write(item).catch(ignore);
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
    const subs = this.#byJob.get(sub.jobId);
    if (!subs?.delete(sub)) return;
    this.#count--;
    if (subs.size === 0) {
      this.#byJob.delete(sub.jobId);
      this.#unwatch.get(sub.jobId)?.();
      this.#unwatch.delete(sub.jobId);
    }
    if (this.#count === 0 && this.#sweepTimer !== undefined) {
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
    for (const subs of this.#byJob.values()) {
      for (const sub of subs) {
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
}
