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

import type { Clock } from "../core/clock.ts";
import { systemClock } from "../core/clock.ts";
import type { JobStore } from "../core/job_store.ts";
import { ReleasingMap } from "../core/releasing_map.ts";
import {
  type FeedSignal,
  type FeedSink,
  HEARTBEAT,
  type JobsFeedItem,
  SHUTDOWN,
} from "./feed_items.ts";
import {
  type AnyItem,
  EverySubscription,
  JobSubscription,
  ListedSubscription,
  Subscription,
} from "./feed_subscriptions.ts";

export {
  type FeedItem,
  type FeedSignal,
  type FeedSink,
  HEARTBEAT,
  isSignal,
  type JobsFeedEvent,
  type JobsFeedItem,
  SHUTDOWN,
} from "./feed_items.ts";

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

const ignore = () => {};

/** Fans each job's log out to any number of subscribers, each at its own pace. */
export class JobFeed {
  readonly #store: JobStore;
  readonly #clock: Clock;
  readonly #heartbeatMs: number;
  readonly #stallMs: number;
  // Long-lived maps with an entry per stream or job: see `ReleasingMap` for why not `Map`.
  /** Every open subscription, by serial. */
  readonly #subs = new ReleasingMap<number, Subscription>();
  /** The subscriptions that follow each job, one job or several. */
  readonly #byJob = new ReleasingMap<string, Set<Subscription>>();
  /** The subscriptions that follow every job, by serial. */
  readonly #every = new ReleasingMap<number, EverySubscription>();
  /** How to stop watching each job's log in a shared store, while it has subscribers. */
  readonly #unwatch = new ReleasingMap<string, () => void>();
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
      // Whoever appends, in this process or another, the store says when any log has grown.
      this.#unwatchAll = this.#store.watchAll(() => {
        for (const every of this.#every.values()) this.#pump(every, undefined);
      });
    }
    this.#every.set(sub.serial, sub);
    this.#open(sub);
  }

  /** Tells the feed that `jobId`'s log has grown; the store's `watch` calls it. */
  notify(jobId: string): void {
    const subs = this.#byJob.get(jobId);
    if (subs) { for (const sub of subs) this.#pump(sub, jobId); }
    for (const sub of this.#every.values()) this.#pump(sub, jobId);
  }

  /**
   * Ends every stream: writes `final` where there is room, closes the writer, and aborts the
   * ones that have not finished within `graceMs`. Resolves once every stream is gone.
   */
  async closeAll(final: FeedSignal = SHUTDOWN, graceMs = 1_000): Promise<void> {
    const all = [...this.#subs.values()];
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
      // Whoever appends, in this process or another, the store says when the log has grown.
      this.#unwatch.set(jobId, this.#store.watch(jobId, () => this.notify(jobId)));
    }
    subs.add(sub);
  }

  #open(sub: Subscription): void {
    this.#subs.set(sub.serial, sub);
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
    let written = false;
    let ended = false;
    for (const item of items) {
      // An item the stream has no message for is not a write: the client got nothing, and the
      // heartbeat that keeps its connection alive is still due.
      if (sub.skips?.(item) !== true) {
        this.#send(sub, item);
        written = true;
      }
      if (sub.ends(item)) {
        ended = true;
        break;
      }
    }
    // One clock read for all the items written.
    if (written) sub.lastWriteAt = this.#clock.now();
    if (!ended) return false;
    if (sub.holdOpenMs > 0) sub.heldSince = this.#clock.now();
    else this.#close(sub);
    return true;
  }

  #write(sub: Subscription, item: AnyItem | FeedSignal): void {
    sub.lastWriteAt = this.#clock.now();
    this.#send(sub, item);
  }

  #send(sub: Subscription, item: AnyItem | FeedSignal): void {
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
    if (!this.#subs.delete(sub.serial)) return;
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
    if (
      sub instanceof EverySubscription && this.#every.delete(sub.serial) &&
      this.#every.size === 0
    ) {
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
    for (const sub of this.#subs.values()) {
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
