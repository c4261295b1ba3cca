/**
 * The watchers of a Redis store's appends. Every instance publishes on `appended:<id>` (and
 * `appended`, for watchers of every job) when it appends; an instance subscribes to a job's
 * channel while something here watches that job, and tells its own watchers of its own appends
 * directly, without the round trip (its messages carry its origin, so it skips them).
 *
 * @module
 */

import { ReleasingMap } from "../core/releasing_map.ts";
import type { Redis } from "ioredis";

/** Who watches which job's appends on one instance, fed by Redis pub/sub. */
export class RedisWatchers {
  readonly #subscriber: Redis;
  readonly #prefix: string;
  /** Tags this instance's announcements, which it has already told its watchers of. */
  readonly #origin: string;
  readonly #watchers = new ReleasingMap<string, Set<() => void>>();
  /** Watchers of every job's appends (see `watchAll`). */
  readonly #allWatchers = new Set<() => void>();

  /** Listens on `subscriber`, a connection for subscriptions only, under key `prefix`. */
  constructor(subscriber: Redis, prefix: string, origin: string) {
    this.#subscriber = subscriber;
    this.#prefix = prefix;
    this.#origin = origin;
    subscriber.on("message", (channel: string, message: string) => {
      if (message.startsWith(this.#origin)) return;
      if (channel === this.#prefix + "appended") {
        for (const onAppend of this.#allWatchers) onAppend();
        return;
      }
      const id = channel.slice(`${this.#prefix}appended:`.length);
      for (const onAppend of this.#watchers.get(id) ?? []) onAppend();
    });
    // Messages published while the subscriber was away are lost: let every watcher re-read.
    let first = true;
    subscriber.on("ready", () => {
      if (first) first = false;
      else {
        for (const set of this.#watchers.values()) for (const onAppend of set) onAppend();
        for (const onAppend of this.#allWatchers) onAppend();
      }
    });
  }

  /** Calls `onAppend` once new events of any job are appended, on any instance. */
  watchAll(onAppend: () => void): () => void {
    if (this.#allWatchers.size === 0) {
      // Appends made before the subscription took effect are read on this first call.
      this.#subscriber.subscribe(this.#prefix + "appended").then(onAppend, onAppend);
    } else {
      queueMicrotask(onAppend);
    }
    this.#allWatchers.add(onAppend);
    return () => {
      if (!this.#allWatchers.delete(onAppend) || this.#allWatchers.size > 0) return;
      this.#subscriber.unsubscribe(this.#prefix + "appended").catch(() => {});
    };
  }

  /** Calls `onAppend` once new events of `jobId` are appended, on any instance. */
  watch(jobId: string, onAppend: () => void): () => void {
    let set = this.#watchers.get(jobId);
    const channel = `${this.#prefix}appended:${jobId}`;
    if (!set) {
      this.#watchers.set(jobId, set = new Set());
      // Appends made before the subscription took effect are read on this first call.
      this.#subscriber.subscribe(channel).then(onAppend, onAppend);
    } else {
      queueMicrotask(onAppend);
    }
    set.add(onAppend);
    return () => {
      if (!set.delete(onAppend) || set.size > 0) return;
      this.#watchers.delete(jobId);
      this.#subscriber.unsubscribe(channel).catch(() => {});
    };
  }

  /** Tells the watchers of `jobId` and of every job of an append made by this instance. */
  notify(jobId: string): void {
    for (const onAppend of this.#watchers.get(jobId) ?? []) onAppend();
    for (const onAppend of this.#allWatchers) onAppend();
  }

  /** Forgets every watcher. */
  clear(): void {
    this.#watchers.clear();
    this.#allWatchers.clear();
  }
}
