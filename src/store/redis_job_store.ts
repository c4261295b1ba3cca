/**
 * Job records and event logs in Redis, shared by every instance of the service.
 *
 * Layout (all keys under a prefix, `qf:` by default):
 * - `job:<id>`: the record as JSON; `jobs`: a sorted set of ids by `createdAt`, for listing.
 * - `events:<id>`: a Redis Stream, one entry per event, with the explicit entry id
 *   `0-<event id>`. Entry ids are the SSE ids, `XRANGE` with an exclusive start is "events after
 *   `Last-Event-ID`", and `XADD` refuses an id that is not above the last one, which makes a
 *   second write of the same event (a job resumed on another instance) a harmless no-op.
 * - `appended:<id>`: a pub/sub channel told of each append, so instances whose clients watch
 *   the job learn of events written by the instance running it.
 * - `order`: a Redis Stream of pointers `(job, event id)`, one per append, added by the same
 *   script as the event itself, so its entry ids (`<ms>-<n>`, increasing in the order Redis ran
 *   the scripts, whichever instance sent them) order every job's events at once: the positions
 *   of the stream of every job. Entries older than the job TTL are trimmed (`MINID`).
 * - `appended`: a pub/sub channel told of every append, for instances streaming every job.
 *
 * - `ended` (with `endedFeed`): a sorted set of the ids of jobs that have ended, by time, added
 *   to by the write that ends a job, in the same script: what consumes job ends (webhooks) takes
 *   them from there, and none is lost to an instance dying between the two.
 *
 * Finished jobs' keys get `PEXPIRE`: eviction happens in Redis, for every instance at once.
 * Commands fail fast (no offline queue) with {@linkcode StoreUnavailableError} while Redis is
 * unreachable, so requests answer `503` instead of hanging.
 *
 * @module
 */

import { Redis } from "ioredis";
import {
  FINISHED_STATUSES,
  type JobEvent,
  type JobEventType,
  type JobRecord,
} from "../core/job.ts";
import type { FencedJobStore, PlacedEvent } from "../core/job_store.ts";
import { StoreUnavailableError } from "../core/store_unavailable_error.ts";
import {
  APPEND,
  closeClient,
  eventIdOf,
  failFastOptions,
  isReply,
  JobTakenError,
  PUT,
  type StreamEntry,
} from "./redis_protocol.ts";
import { RedisWatchers } from "./redis_watchers.ts";

export { closeClient, failFastOptions, JobTakenError } from "./redis_protocol.ts";

/** Settings of a {@linkcode RedisJobStore}. */
export interface RedisJobStoreOptions {
  /** Prefix of every key and channel. Default `qf:`. */
  prefix?: string;
  /** How long a finished job's keys live, in ms. Default one hour. */
  ttlMs?: number;
  /** How long `connect` waits for Redis, in ms. Default 5 000. */
  connectTimeoutMs?: number;
  /** Records each job's end once in the sorted set `ended`, for webhooks. Default false. */
  endedFeed?: boolean;
}

/** A {@linkcode JobStore} on Redis; create it with {@linkcode RedisJobStore.connect}. */
export class RedisJobStore implements FencedJobStore {
  /** Jobs outlive every process: they are in Redis. */
  readonly durable = true;
  readonly #client: Redis;
  readonly #subscriber: Redis;
  readonly #prefix: string;
  readonly #ttlMs: number;
  readonly #endedFeed: boolean;
  readonly #watchers: RedisWatchers;
  /** Tags this store's announcements: the manager appending here tells its own feed directly. */
  readonly #origin = crypto.randomUUID();
  /** The run token of each job this instance runs; its writes for the job carry it. */
  readonly #fences = new Map<string, string>();
  /** Jobs whose fenced writes were refused: another instance took them over. */
  readonly #taken = new Set<string>();
  #lastError: Error | undefined;

  private constructor(client: Redis, subscriber: Redis, options: RedisJobStoreOptions) {
    this.#client = client;
    this.#subscriber = subscriber;
    this.#prefix = options.prefix ?? "qf:";
    this.#ttlMs = options.ttlMs ?? 3_600_000;
    this.#endedFeed = options.endedFeed ?? false;
    const remember = (error: Error) => this.#lastError = error;
    client.on("error", remember);
    subscriber.on("error", remember);
    this.#watchers = new RedisWatchers(subscriber, this.#prefix, this.#origin);
  }

  /**
   * Connects to `url`. Throws {@linkcode StoreUnavailableError} naming the address if Redis
   * does not answer within `connectTimeoutMs`.
   */
  static async connect(url: string, options: RedisJobStoreOptions = {}): Promise<RedisJobStore> {
    const client = new Redis(url, failFastOptions());
    const subscriber = new Redis(url, failFastOptions(true));
    const store = new RedisJobStore(client, subscriber, options);
    const where = new URL(url);
    where.password = "";
    where.username = "";
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        Promise.all([client.connect(), subscriber.connect()]).then(() => client.ping()),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error("no answer")),
            options.connectTimeoutMs ?? 5_000,
          );
        }),
      ]);
    } catch (error) {
      client.disconnect();
      subscriber.disconnect();
      const cause = store.#lastError ?? error;
      throw new StoreUnavailableError(`Redis at ${where.href}`, { cause });
    } finally {
      clearTimeout(timer);
    }
    return store;
  }

  /** The key of `name`, prefixed. */
  key(name: string): string {
    return this.#prefix + name;
  }

  /** `null` when Redis answers a ping within `timeoutMs`, else why not. */
  async health(timeoutMs = 1_000): Promise<string | null> {
    if (this.#client.status !== "ready") return "unreachable";
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        this.#client.ping(),
        new Promise((_, reject) =>
          timer = setTimeout(() => reject(new Error("timeout")), timeoutMs)
        ),
      ]);
      return null;
    } catch {
      return "unreachable";
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Makes this instance the owner of job `id` for the run `token`: from now on only writes for
   * the job made with that token (this instance's, until `unfence`) are accepted, and another
   * instance's earlier run gets {@linkcode JobTakenError}. Call it before reading the job to run.
   */
  async fence(id: string, token: string): Promise<void> {
    await this.#run(() => this.#client.set(this.key(`owner:${id}`), token));
    this.#fences.set(id, token);
  }

  /** Stops writing job `id` with this instance's run token (the run has ended). */
  unfence(id: string): void {
    this.#fences.delete(id);
    this.#taken.delete(id);
  }

  /** Whether a write for job `id` was refused because another instance took it over. */
  wasTaken(id: string): boolean {
    return this.#taken.has(id);
  }

  async put(job: JobRecord): Promise<void> {
    await this.#write(job.id, () =>
      this.#client.eval(
        PUT,
        5,
        this.key(`owner:${job.id}`),
        this.key(`job:${job.id}`),
        this.key(`events:${job.id}`),
        this.key("jobs"),
        this.key("ended"),
        this.#fences.get(job.id) ?? "",
        JSON.stringify(job),
        job.createdAt,
        FINISHED_STATUSES.has(job.status) ? "1" : "0",
        this.#ttlMs,
        job.id,
        this.#endedFeed ? "1" : "0",
      ));
  }

  async get(id: string): Promise<JobRecord | undefined> {
    return await this.#run(async () => {
      const [[, raw], [, last]] = await this.#client.pipeline()
        .get(this.key(`job:${id}`))
        .xrevrange(this.key(`events:${id}`), "+", "-", "COUNT", 1)
        .exec() as [[null, string | null], [null, StreamEntry[]]];
      if (raw === null) return undefined;
      return this.#withLastEvent(JSON.parse(raw) as JobRecord, last);
    });
  }

  /**
   * Always empty: with Redis, unfinished jobs are taken up by BullMQ's stalled-job check on
   * whichever instance is alive, not by a start-up recovery pass of one process.
   */
  unfinished(): Promise<JobRecord[]> {
    return Promise.resolve([]);
  }

  async list(limit: number): Promise<JobRecord[]> {
    return await this.#run(async () => {
      const found: JobRecord[] = [];
      let from = 0;
      // Ids of evicted jobs linger in the index until a listing meets them.
      for (let round = 0; round < 5 && found.length < limit; round++) {
        const ids = await this.#client.zrevrange(this.key("jobs"), from, from + limit - 1);
        if (ids.length === 0) break;
        const pipe = this.#client.pipeline();
        for (const id of ids) {
          pipe.get(this.key(`job:${id}`));
          pipe.xrevrange(this.key(`events:${id}`), "+", "-", "COUNT", 1);
        }
        const replies = (await pipe.exec() ?? []).map(([, value]) => value);
        const gone: string[] = [];
        ids.forEach((id, i) => {
          const raw = replies[2 * i] as string | null;
          if (raw === null) gone.push(id);
          else if (found.length < limit) {
            found.push(
              this.#withLastEvent(
                JSON.parse(raw) as JobRecord,
                replies[2 * i + 1] as StreamEntry[],
              ),
            );
          }
        });
        if (gone.length > 0) await this.#client.zrem(this.key("jobs"), ...gone);
        from += ids.length - gone.length;
      }
      return found;
    });
  }

  async delete(id: string): Promise<void> {
    await this.#run(async () => {
      await this.#client.multi()
        .del(this.key(`job:${id}`), this.key(`events:${id}`), this.key(`owner:${id}`))
        .zrem(this.key("jobs"), id)
        .exec();
    });
  }

  async append(jobId: string, event: JobEvent): Promise<void> {
    // Other instances hear of it on `appended:<id>`; this one's watchers need no round trip.
    await this.#write(jobId, () =>
      this.#client.eval(
        APPEND,
        5,
        this.key(`owner:${jobId}`),
        this.key(`events:${jobId}`),
        this.key(`appended:${jobId}`),
        this.key("order"),
        this.key("appended"),
        this.#fences.get(jobId) ?? "",
        `0-${event.id}`,
        event.type,
        JSON.stringify(event.data),
        `${this.#origin} ${event.id}`,
        jobId,
        event.id,
        // The order of a job older than the TTL is of no use: its events expire with it.
        Math.max(0, Date.now() - this.#ttlMs),
      ));
    this.#watchers.notify(jobId);
  }

  async events(jobId: string, afterId: number, limit: number): Promise<JobEvent[]> {
    return await this.#run(async () => {
      const entries = await this.#client.xrange(
        this.key(`events:${jobId}`),
        `(0-${afterId}`,
        "+",
        "COUNT",
        limit,
      ) as StreamEntry[];
      return entries.map((entry) => this.#toEvent(entry));
    });
  }

  /** Never at once: the logs are in Redis. */
  eventsNow(): null {
    return null;
  }

  /** Never at once: see `eventsNow`. */
  eventsSinceNow(): null {
    return null;
  }

  #toEvent([entryId, fields]: StreamEntry): JobEvent {
    const value = (name: string) => fields[fields.indexOf(name) + 1] as string;
    return {
      id: eventIdOf(entryId),
      type: value("type") as JobEventType,
      data: JSON.parse(value("data")) as Record<string, unknown>,
    };
  }

  async headPosition(): Promise<string> {
    return await this.#run(async () => {
      const [last] = await this.#client.xrevrange(this.key("order"), "+", "-", "COUNT", 1);
      return last?.[0] ?? "0-0";
    });
  }

  async eventsSince(position: string, limit: number): Promise<PlacedEvent[]> {
    return await this.#run(async () => {
      const out: PlacedEvent[] = [];
      let after = position;
      // Pointers to expired jobs give no event: read on until `limit` or the end.
      for (;;) {
        const entries = await this.#client.xrange(
          this.key("order"),
          `(${after}`,
          "+",
          "COUNT",
          limit - out.length,
        ) as StreamEntry[];
        if (entries.length === 0) return out;
        const pipe = this.#client.pipeline();
        const pointers = entries.map(([entryId, fields]) => {
          const job = fields[fields.indexOf("job") + 1] as string;
          const id = fields[fields.indexOf("event") + 1] as string;
          pipe.xrange(this.key(`events:${job}`), `0-${id}`, `0-${id}`);
          return { entryId, job };
        });
        const replies = await pipe.exec() ?? [];
        pointers.forEach(({ entryId, job }, i) => {
          const [entry] = (replies[i]?.[1] ?? []) as StreamEntry[];
          if (entry) out.push({ jobId: job, event: this.#toEvent(entry), position: entryId });
        });
        after = (entries.at(-1) as StreamEntry)[0];
        if (out.length >= limit || entries.length < limit) return out;
      }
    });
  }

  watchAll(onAppend: () => void): () => void {
    return this.#watchers.watchAll(onAppend);
  }

  watch(jobId: string, onAppend: () => void): () => void {
    return this.#watchers.watch(jobId, onAppend);
  }

  async close(): Promise<void> {
    this.#watchers.clear();
    await Promise.all([closeClient(this.#client), closeClient(this.#subscriber)]);
  }

  /** The record with `lastEventId` raised to the log's: events of text do not rewrite it. */
  #withLastEvent(record: JobRecord, last: StreamEntry[] | undefined): JobRecord {
    const top = last?.[0];
    if (top) record.lastEventId = Math.max(record.lastEventId, eventIdOf(top[0]));
    return record;
  }

  /** Runs a write script: `FENCED` becomes {@linkcode JobTakenError}; a repeated id is ignored. */
  async #write(id: string, write: () => Promise<unknown>): Promise<void> {
    try {
      await this.#run(write);
    } catch (error) {
      if (!isReply(error)) throw error;
      if (/FENCED/.test(error.message)) {
        if (this.#fences.has(id)) this.#taken.add(id);
        throw new JobTakenError(id);
      }
      // An id at or below the last one is a second write of an event already in the log.
      if (!/equal or smaller/.test(error.message)) throw error;
    }
  }

  async #run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      if (isReply(error)) throw error;
      throw new StoreUnavailableError("Redis", { cause: error });
    }
  }
}
